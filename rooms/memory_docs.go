package rooms

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// MemoryDocs keeps documents in this process: for tests, and for nothing that must outlive it.
type MemoryDocs struct {
	mu    sync.Mutex
	colls map[string]map[string][]byte
}

// NewMemoryDocs returns an empty in-process document store.
func NewMemoryDocs() *MemoryDocs { return &MemoryDocs{colls: make(map[string]map[string][]byte)} }

func (m *MemoryDocs) GetDoc(ctx context.Context, coll, id string) ([]byte, error) {
	if err := checkDocName(ctx, coll, id, true); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.colls[coll][id]
	if !ok {
		return nil, fmt.Errorf("document %s/%s: %w", coll, id, ErrNotFound)
	}
	return slices.Clone(b), nil
}

func (m *MemoryDocs) ListDocs(ctx context.Context, coll string) (map[string][]byte, error) {
	if err := checkDocName(ctx, coll, "", false); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string][]byte, len(m.colls[coll]))
	for id, b := range m.colls[coll] {
		out[id] = slices.Clone(b)
	}
	return out, nil
}

func (m *MemoryDocs) UpdateDoc(ctx context.Context, coll, id string, fn func(old []byte) ([]byte, error)) error {
	if err := checkDocName(ctx, coll, id, true); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.colls[coll][id]
	if ok {
		old = slices.Clone(old) // fn may keep or change what it gets
	}
	b, err := fn(old)
	if err != nil {
		return err
	}
	if b == nil {
		delete(m.colls[coll], id)
		if len(m.colls[coll]) == 0 {
			delete(m.colls, coll)
		}
		return nil
	}
	c := m.colls[coll]
	if c == nil {
		c = make(map[string][]byte)
		m.colls[coll] = c
	}
	c[id] = slices.Clone(b)
	return nil
}

func (m *MemoryDocs) DeleteCollection(ctx context.Context, coll string) error {
	if err := checkDocName(ctx, coll, "", false); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.colls, coll)
	return nil
}
