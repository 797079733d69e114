package rooms

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Classroom interaction in the RedisStore: chat and raised hands, one Lua script per change like the
// rest. Event JSON is built here in Go; the scripts only number and publish it.
//
// Chat messages are numbered per room in posting order (chatcount is the newest's number) and the
// chat list always holds a contiguous run of them, newest last: messages chatcount-LLEN+1 … chatcount.
// So chatidx can map an ID to the message's number, which never changes, and the message's place in
// the list follows from it however much has been trimmed from the front since. Trimming also drops
// the trimmed IDs from chatidx, so that stays bounded too; duplicate IDs are therefore detected among
// the kept messages only (callers choose random IDs, so older ones do not come back).

// PostChat implements Store.
func (s *RedisStore) PostChat(ctx context.Context, room string, m ChatMessage) error {
	if err := checkChat(ctx, room, m); err != nil {
		return err
	}
	now := time.Now()
	mj, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("rooms: redis post chat: %w", err)
	}
	ej, err := json.Marshal(Event{Room: room, Type: EventChat, At: now, Chat: &m})
	if err != nil {
		return fmt.Errorf("rooms: redis post chat: %w", err)
	}
	res, err := s.run(ctx, postChatScript, room, now, m.From, m.ID, mj, ej, MaxChatKept)
	if err != nil {
		return fmt.Errorf("rooms: redis post chat: %w", err)
	}
	switch n, _ := res.(int64); n {
	case 0:
		return fmt.Errorf("rooms: post chat %s/%s: sender: %w", room, m.From, ErrNotFound)
	case -2:
		return fmt.Errorf("rooms: post chat %s: message id %q is already in use", room, m.ID)
	}
	return nil
}

// DeleteChat implements Store.
func (s *RedisStore) DeleteChat(ctx context.Context, room, id, by string) error {
	now := time.Now()
	ej, err := json.Marshal(Event{Room: room, Type: EventChatDeleted, At: now, ChatID: id, By: by})
	if err != nil {
		return fmt.Errorf("rooms: redis delete chat: %w", err)
	}
	return s.mutate(ctx, "delete chat", deleteChatScript, room, now, id, ej)
}

// ChatHistory implements Store. It is one LRANGE, which Redis applies atomically: no script needed.
func (s *RedisStore) ChatHistory(ctx context.Context, room string, n int) ([]ChatMessage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if n <= 0 { // LRANGE -0 -1 would be the whole list
		return []ChatMessage{}, nil
	}
	raw, err := s.client.LRange(ctx, s.base(room)+"chat", -int64(n), -1).Result()
	if err != nil {
		return nil, fmt.Errorf("rooms: redis chat history: %w", err)
	}
	msgs := make([]ChatMessage, len(raw))
	for i, mj := range raw {
		if err := json.Unmarshal([]byte(mj), &msgs[i]); err != nil {
			return nil, fmt.Errorf("rooms: redis chat history of %s: message: %w", room, err)
		}
	}
	return msgs, nil
}

// RaiseHand implements Store.
func (s *RedisStore) RaiseHand(ctx context.Context, room, participantID string) error {
	now := time.Now()
	ej, err := json.Marshal(Event{Room: room, Type: EventHandRaised, At: now, ParticipantID: participantID})
	if err != nil {
		return fmt.Errorf("rooms: redis raise hand: %w", err)
	}
	return s.mutate(ctx, "raise hand", raiseHandScript, room, now, participantID, ej)
}

// LowerHand implements Store.
func (s *RedisStore) LowerHand(ctx context.Context, room, participantID, by string) error {
	now := time.Now()
	ej, err := json.Marshal(Event{Room: room, Type: EventHandLowered, At: now, ParticipantID: participantID, By: by})
	if err != nil {
		return fmt.Errorf("rooms: redis lower hand: %w", err)
	}
	return s.mutate(ctx, "lower hand", lowerHandScript, room, now, participantID, ej)
}

// chatLib follows luaLib in the chat scripts.
const chatLib = `
local ckey, ccount, cidx = base .. 'chat', base .. 'chatcount', base .. 'chatidx'
`

var (
	// ARGV[3..]: sender ID, message ID, message JSON, event JSON, how many messages to keep.
	// Answers the Seq, 0 if the sender is not in the room or -2 if the message ID is taken.
	postChatScript = redis.NewScript(luaLib + chatLib + `
if redis.call('HEXISTS', pkey, ARGV[3]) == 0 then return 0 end
if redis.call('HEXISTS', cidx, ARGV[4]) == 1 then return -2 end
local n = redis.call('INCR', ccount)
redis.call('RPUSH', ckey, ARGV[5])
redis.call('HSET', cidx, ARGV[4], n)
local keep = tonumber(ARGV[7])
while redis.call('LLEN', ckey) > keep do
  -- Were a trimmed message unreadable, its index entry would only cost memory: DeleteChat sees
  -- from the number that the message is gone.
  local ok, old = pcall(cjson.decode, redis.call('LPOP', ckey))
  if ok and type(old) == 'table' and type(old.id) == 'string' then redis.call('HDEL', cidx, old.id) end
end
return emit(ARGV[6])
`)
	// ARGV[3..]: message ID, event JSON. Answers the Seq, 0 if the message is not kept or -1 if it
	// was already deleted.
	deleteChatScript = redis.NewScript(luaLib + chatLib + `
local n = tonumber(redis.call('HGET', cidx, ARGV[3]))
if not n then return 0 end
local i = n - (tonumber(redis.call('GET', ccount) or '0') - redis.call('LLEN', ckey)) - 1
if i < 0 then -- trimmed away; the entry outlived it
  redis.call('HDEL', cidx, ARGV[3])
  return 0
end
local raw = redis.call('LINDEX', ckey, i)
local m = raw and cjson.decode(raw)
if not m or m.id ~= ARGV[3] then
  return redis.error_reply('chat index out of step with the chat list at message ' .. ARGV[3])
end
if m.deleted then return -1 end
m.text, m.deleted = '', true -- a flat object of strings and a bool: cjson re-encodes it faithfully
redis.call('LSET', ckey, i, cjson.encode(m))
return emit(ARGV[4])
`)
	// ARGV[3..]: participant ID, event JSON. The queue is at most the room's size, so a scan is
	// cheap (and works on Redis older than LPOS).
	raiseHandScript = redis.NewScript(luaLib + `
if redis.call('HEXISTS', pkey, ARGV[3]) == 0 then return 0 end
for _, id in ipairs(redis.call('LRANGE', hkey, 0, -1)) do
  if id == ARGV[3] then return -1 end
end
redis.call('RPUSH', hkey, ARGV[3])
return emit(ARGV[4])
`)
	// ARGV[3..]: participant ID, event JSON. A held hand is no one's to lower.
	lowerHandScript = redis.NewScript(luaLib + `
if redis.call('HEXISTS', pkey, ARGV[3]) == 0 then return -1 end
if redis.call('LREM', hkey, 0, ARGV[3]) == 0 then return -1 end
return emit(ARGV[4])
`)
)
