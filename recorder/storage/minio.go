package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// MinIOConfig says where a MinIO (or any S3-compatible) bucket is.
type MinIOConfig struct {
	Endpoint  string // host:port
	AccessKey string
	SecretKey string
	Bucket    string
	Secure    bool   // HTTPS
	Region    string // default "us-east-1"
	// PartSize is the multipart upload part size; files larger than one part go up in parts.
	// Default 16 MiB (minimum 5 MiB).
	PartSize uint64
}

// MinIO stores objects in a bucket through minio-go. The bucket is created on first use, so the
// server may be down when Chalk starts.
type MinIO struct {
	c        *minio.Client
	bucket   string
	region   string
	partSize uint64

	mu       sync.Mutex
	bucketOK bool
}

// NewMinIO prepares a client; it does not contact the server.
func NewMinIO(cfg MinIOConfig) (*MinIO, error) {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = 16 << 20
	}
	if cfg.PartSize < 5<<20 {
		return nil, fmt.Errorf("storage: part size %d is below S3's minimum of 5 MiB", cfg.PartSize)
	}
	if cfg.Bucket == "" {
		return nil, errors.New("storage: MinIO bucket name is empty")
	}
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: cfg.Secure,
		Region: cfg.Region,
		// Few quick retries here: the recorder's upload loop retries for as long as it takes.
		MaxRetries: 3,
	})
	if err != nil {
		return nil, fmt.Errorf("storage: MinIO client for %s: %w", cfg.Endpoint, err)
	}
	return &MinIO{c: c, bucket: cfg.Bucket, region: cfg.Region, partSize: cfg.PartSize}, nil
}

func (m *MinIO) ensureBucket(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.bucketOK {
		return nil
	}
	ok, err := m.c.BucketExists(ctx, m.bucket)
	// A MinIO that has just started answers health checks before its object layer is up; give it
	// a few seconds rather than failing the first upload.
	for wait := 100 * time.Millisecond; err != nil && minio.ToErrorResponse(err).Code == "XMinioServerNotInitialized" && wait < 10*time.Second; wait *= 2 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("storage: bucket %s: %w", m.bucket, ctx.Err())
		case <-time.After(wait):
		}
		ok, err = m.c.BucketExists(ctx, m.bucket)
	}
	if err != nil {
		return fmt.Errorf("storage: bucket %s: %w", m.bucket, err)
	}
	if !ok {
		err := m.c.MakeBucket(ctx, m.bucket, minio.MakeBucketOptions{Region: m.region})
		if err != nil && minio.ToErrorResponse(err).Code != "BucketAlreadyOwnedByYou" {
			return fmt.Errorf("storage: create bucket %s: %w", m.bucket, err)
		}
	}
	m.bucketOK = true
	return nil
}

// Put uploads the file (in parts when it is larger than one part) and then checks the stored size.
func (m *MinIO) Put(ctx context.Context, key, path, contentType string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if err := m.ensureBucket(ctx); err != nil {
		return err
	}
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("storage: put %s: %w", key, err)
	}
	info, err := m.c.FPutObject(ctx, m.bucket, key, path, minio.PutObjectOptions{
		ContentType: contentType, PartSize: m.partSize,
	})
	if err != nil {
		return fmt.Errorf("storage: put %s: %w", key, err)
	}
	if info.Size != st.Size() {
		return fmt.Errorf("storage: put %s: stored %d bytes of %d", key, info.Size, st.Size())
	}
	got, err := m.Stat(ctx, key)
	if err != nil {
		return fmt.Errorf("storage: put %s: confirm: %w", key, err)
	}
	if got.Size != st.Size() {
		return fmt.Errorf("storage: put %s: bucket holds %d bytes of %d", key, got.Size, st.Size())
	}
	return nil
}

func (m *MinIO) Stat(ctx context.Context, key string) (Info, error) {
	if err := CheckKey(key); err != nil {
		return Info{}, err
	}
	oi, err := m.c.StatObject(ctx, m.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return Info{}, m.notFound(key, err)
	}
	return minioInfo(key, oi), nil
}

func minioInfo(key string, oi minio.ObjectInfo) Info {
	etag := oi.ETag
	if etag != "" && !strings.HasPrefix(etag, `"`) {
		etag = `"` + etag + `"`
	}
	return Info{Key: key, Size: oi.Size, ContentType: oi.ContentType, ModTime: oi.LastModified, ETag: etag}
}

// Open returns a minio.Object: each read after a seek is one ranged GET, so serving a Range
// request fetches only that range. The reads are pinned to the version first described (its
// ETag): a reader of a replaced object gets an error, never a mix of two versions.
func (m *MinIO) Open(ctx context.Context, key string) (io.ReadSeekCloser, Info, error) {
	if err := CheckKey(key); err != nil {
		return nil, Info{}, err
	}
	oi, err := m.c.StatObject(ctx, m.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return nil, Info{}, m.notFound(key, err)
	}
	var opts minio.GetObjectOptions
	if oi.ETag != "" {
		if err := opts.SetMatchETag(oi.ETag); err != nil {
			return nil, Info{}, fmt.Errorf("storage: open %s: %w", key, err)
		}
	}
	obj, err := m.c.GetObject(ctx, m.bucket, key, opts)
	if err != nil {
		return nil, Info{}, m.notFound(key, err)
	}
	return obj, minioInfo(key, oi), nil
}

func (m *MinIO) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if _, err := m.Stat(ctx, key); err != nil {
		return nil, err
	}
	obj, err := m.c.GetObject(ctx, m.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, m.notFound(key, err)
	}
	return obj, nil
}

func (m *MinIO) List(ctx context.Context, prefix string) ([]Info, error) {
	var out []Info
	for oi := range m.c.ListObjects(ctx, m.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if oi.Err != nil {
			if isNoBucket(oi.Err) {
				return nil, nil
			}
			return nil, fmt.Errorf("storage: list %q: %w", prefix, oi.Err)
		}
		out = append(out, minioInfo(oi.Key, oi))
	}
	return out, nil
}

// DeletePrefix lists the objects under prefix and removes them in batches (S3 DeleteObjects).
func (m *MinIO) DeletePrefix(ctx context.Context, prefix string) (int, error) {
	if err := CheckPrefix(prefix); err != nil {
		return 0, err
	}
	infos, err := m.List(ctx, prefix)
	if err != nil || len(infos) == 0 {
		return 0, err
	}
	objs := make(chan minio.ObjectInfo, len(infos))
	for _, info := range infos {
		objs <- minio.ObjectInfo{Key: info.Key}
	}
	close(objs)
	n := len(infos)
	for e := range m.c.RemoveObjects(ctx, m.bucket, objs, minio.RemoveObjectsOptions{}) {
		if e.Err != nil && minio.ToErrorResponse(e.Err).Code != "NoSuchKey" {
			err = errors.Join(err, fmt.Errorf("storage: delete %s: %w", e.ObjectName, e.Err))
			n--
		}
	}
	return n, err
}

func (m *MinIO) notFound(key string, err error) error {
	r := minio.ToErrorResponse(err)
	if r.StatusCode == http.StatusNotFound || r.Code == "NoSuchKey" || isNoBucket(err) {
		return fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return fmt.Errorf("storage: %s: %w", key, err)
}

func isNoBucket(err error) bool { return minio.ToErrorResponse(err).Code == "NoSuchBucket" }
