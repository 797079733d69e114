package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Polls in the RedisStore, one Lua script per change like the rest. Keys of room R, for prefix P:
//
//	P room:{R}:polls            list   poll IDs in creation order (the kept ones)
//	P room:{R}:pollsopen        set    IDs of the open polls
//	P room:{R}:poll:<ID>        hash   def: the Poll JSON (as Go wrote it); n: option count; multi, anon:
//	                                   "1" or "0"; voters; c0 … c<n-1>: votes per option;
//	                                   closed: {"closedAt","closedBy"} JSON, absent while open
//	P room:{R}:pollvotes:<ID>   hash   voter identity → PollVote JSON (kept for anonymous polls too:
//	                                   a vote can be changed; the read scripts never return it for them)
//
// A vote is one script: it checks the poll is open and the choices are options, takes back the
// voter's old choices, adds the new ones and publishes a poll_voted event that names only the poll.
// Counting in Redis, under the script's atomicity, is what makes 500 concurrent votes count 500.

// CreatePoll implements Store.
func (s *RedisStore) CreatePoll(ctx context.Context, room string, p Poll) error {
	if err := checkPoll(ctx, p); err != nil {
		return err
	}
	now := time.Now()
	p = clonePoll(p)
	def, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("rooms: redis create poll: %w", err)
	}
	ej, err := json.Marshal(Event{Room: room, Type: EventPollCreated, At: now, Poll: &p})
	if err != nil {
		return fmt.Errorf("rooms: redis create poll: %w", err)
	}
	res, err := s.run(ctx, createPollScript, room, now, p.CreatedBy, p.ID, def, ej,
		len(p.Options), luaFlag(p.Multiple), luaFlag(p.Anonymous), MaxOpenPolls, MaxPollsKept)
	if err != nil {
		return fmt.Errorf("rooms: redis create poll: %w", err)
	}
	switch n, _ := res.(int64); n {
	case 0:
		return fmt.Errorf("rooms: create poll %s/%s: creator: %w", room, p.CreatedBy, ErrNotFound)
	case -2:
		return fmt.Errorf("rooms: create poll %s: poll id %q is already in use", room, p.ID)
	case -3:
		return fmt.Errorf("rooms: create poll %s: %w (%d); close one first", room, ErrTooManyOpenPolls, MaxOpenPolls)
	}
	return nil
}

// Vote implements Store.
func (s *RedisStore) Vote(ctx context.Context, room, pollID, participantID string, choices []int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	choices, err := CheckChoices(choices)
	if err != nil {
		return err
	}
	now := time.Now()
	ej, err := json.Marshal(Event{Room: room, Type: EventPollVoted, At: now, PollID: pollID})
	if err != nil {
		return fmt.Errorf("rooms: redis vote: %w", err)
	}
	args := []any{pollID, participantID, ej}
	for _, c := range choices {
		args = append(args, c)
	}
	res, err := s.run(ctx, voteScript, room, now, args...)
	if err != nil {
		return fmt.Errorf("rooms: redis vote: %w", err)
	}
	switch n, _ := res.(int64); n {
	case 0:
		return fmt.Errorf("rooms: vote %s/%s: poll: %w", room, pollID, ErrNotFound)
	case -5:
		return fmt.Errorf("rooms: vote %s/%s: voter %s: %w", room, pollID, participantID, ErrNotFound)
	case -2:
		return fmt.Errorf("rooms: vote %s/%s: %w", room, pollID, ErrPollClosed)
	case -3:
		return errChoiceNotOption(choices[len(choices)-1])
	case -4:
		return errSingleChoice
	}
	return nil
}

// ClosePoll implements Store. The event's final counts are only known inside the script, so Go
// writes the event JSON up to them and the script appends the poll and the counts.
func (s *RedisStore) ClosePoll(ctx context.Context, room, pollID, by string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := time.Now()
	ej, err := json.Marshal(Event{Room: room, Type: EventPollClosed, At: now, PollID: pollID, By: by})
	if err != nil {
		return fmt.Errorf("rooms: redis close poll: %w", err)
	}
	closed, err := json.Marshal(pollClosure{At: now, By: by})
	if err != nil {
		return fmt.Errorf("rooms: redis close poll: %w", err)
	}
	prefix := append(ej[:len(ej)-1:len(ej)-1], ',') // `{…,` : Poll and PollResults are still nil, so not in it
	return s.mutate(ctx, "close poll", closePollScript, room, now, pollID, closed, prefix)
}

// pollClosure is the closed field of a poll's hash.
type pollClosure struct {
	At time.Time `json:"closedAt"`
	By string    `json:"closedBy"`
}

// Poll implements Store.
func (s *RedisStore) Poll(ctx context.Context, room, pollID string, pr PollRead) (PollState, error) {
	if err := ctx.Err(); err != nil {
		return PollState{}, err
	}
	if s.closed.Load() {
		return PollState{}, ErrClosed
	}
	res, err := s.readScript(ctx, pollScript, room, pollID, pr.Voter, luaFlag(pr.Votes))
	if errors.Is(err, redis.Nil) {
		return PollState{}, fmt.Errorf("rooms: poll %s/%s: %w", room, pollID, ErrNotFound)
	}
	if err != nil {
		return PollState{}, fmt.Errorf("rooms: redis poll: %w", err)
	}
	st, err := parsePollState(res, pr)
	if err != nil {
		return PollState{}, fmt.Errorf("rooms: redis poll %s/%s: %w", room, pollID, err)
	}
	return st, nil
}

// Polls implements Store.
func (s *RedisStore) Polls(ctx context.Context, room string, closed int, pr PollRead) ([]PollState, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.closed.Load() {
		return nil, ErrClosed
	}
	res, err := s.readScript(ctx, pollsScript, room, closed, pr.Voter, luaFlag(pr.Votes))
	if err != nil {
		return nil, fmt.Errorf("rooms: redis polls: %w", err)
	}
	list, _ := res.([]any)
	out := make([]PollState, 0, len(list))
	for _, v := range list {
		st, err := parsePollState(v, pr)
		if err != nil {
			return nil, fmt.Errorf("rooms: redis polls of %s: %w", room, err)
		}
		out = append(out, st)
	}
	return out, nil
}

// readScript runs a script that changes nothing, with the room as ARGV[1] and ARGV[2] (no event time)
// empty, so the arguments are numbered as in the mutation scripts.
func (s *RedisStore) readScript(ctx context.Context, script *redis.Script, room string, args ...any) (any, error) {
	return script.Run(ctx, s.client, []string{s.base(room)}, append([]any{room, ""}, args...)...).Result()
}

// parsePollState reads what the Lua pollState function returns: the Poll JSON, the closed JSON or "",
// the voter count, the counts, the reader's own vote JSON or "", and the vote JSONs.
func parsePollState(v any, pr PollRead) (PollState, error) {
	f, ok := v.([]any)
	if !ok || len(f) != 6 {
		return PollState{}, fmt.Errorf("unexpected poll reply %v", v)
	}
	var st PollState
	def, _ := f[0].(string)
	if err := json.Unmarshal([]byte(def), &st.Poll); err != nil {
		return PollState{}, fmt.Errorf("poll: %w", err)
	}
	if c, _ := f[1].(string); c != "" {
		var cl pollClosure
		if err := json.Unmarshal([]byte(c), &cl); err != nil {
			return PollState{}, fmt.Errorf("poll %s closure: %w", st.ID, err)
		}
		st.Closed, st.ClosedAt, st.ClosedBy = true, cl.At.UTC(), cl.By
	}
	voters, _ := f[2].(int64)
	st.Results.Voters = int(voters)
	counts, _ := f[3].([]any)
	st.Results.Counts = make([]int, len(counts))
	for i, c := range counts {
		n, _ := c.(int64)
		st.Results.Counts[i] = int(n)
	}
	if mine, _ := f[4].(string); mine != "" {
		var v PollVote
		if err := json.Unmarshal([]byte(mine), &v); err != nil {
			return PollState{}, fmt.Errorf("poll %s vote: %w", st.ID, err)
		}
		st.Mine = v.Choices
	}
	if pr.Votes && !st.Anonymous {
		votes, _ := f[5].([]any)
		st.Results.Votes = make([]PollVote, len(votes))
		for i, raw := range votes {
			vj, _ := raw.(string)
			if err := json.Unmarshal([]byte(vj), &st.Results.Votes[i]); err != nil {
				return PollState{}, fmt.Errorf("poll %s vote: %w", st.ID, err)
			}
			st.Results.Votes[i].At = st.Results.Votes[i].At.UTC()
		}
		sortVotes(st.Results.Votes)
	}
	return st, nil
}

func luaFlag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// pollLib follows luaLib in the poll scripts.
const pollLib = `
local plist, popen = base .. 'polls', base .. 'pollsopen'
local function mkey(id) return base .. 'poll:' .. id end
local function vkey(id) return base .. 'pollvotes:' .. id end
local function counts(m, n)
  local f = {}
  for i = 1, n do f[i] = 'c' .. (i - 1) end
  local out = redis.call('HMGET', m, unpack(f))
  for i = 1, n do out[i] = tonumber(out[i] or '0') end
  return out
end
-- One poll as {def, closed or '', voters, counts, the voter's vote or '', votes}, or nil if unknown.
-- Votes of an anonymous poll never leave this function.
local function pollState(id, voter, withVotes)
  local m = mkey(id)
  local f = redis.call('HMGET', m, 'def', 'n', 'anon', 'closed', 'voters')
  if not f[1] then return nil end
  local mine = ''
  if voter ~= '' then mine = redis.call('HGET', vkey(id), voter) or '' end
  local votes = {}
  if withVotes and f[3] ~= '1' then votes = redis.call('HVALS', vkey(id)) end
  return {f[1], f[4] or '', tonumber(f[5]), counts(m, tonumber(f[2])), mine, votes}
end
`

var (
	// ARGV[3..]: creator ID, poll ID, poll JSON, event JSON, option count, multi, anon, max open, keep.
	// Answers the Seq, 0 if the creator is not in the room, -2 if the ID is taken or -3 if too many
	// polls are open.
	createPollScript = redis.NewScript(luaLib + pollLib + `
if redis.call('HEXISTS', pkey, ARGV[3]) == 0 then return 0 end
local m, maxOpen = mkey(ARGV[4]), tonumber(ARGV[10])
if redis.call('EXISTS', m) == 1 then return -2 end
if redis.call('SCARD', popen) >= maxOpen then return -3 end
local f = {'def', ARGV[5], 'n', ARGV[7], 'multi', ARGV[8], 'anon', ARGV[9], 'voters', 0}
for i = 0, tonumber(ARGV[7]) - 1 do
  f[#f + 1] = 'c' .. i
  f[#f + 1] = 0
end
redis.call('HSET', m, unpack(f))
redis.call('RPUSH', plist, ARGV[4])
redis.call('SADD', popen, ARGV[4])
-- Drop the oldest closed polls beyond keep; the open ones (at most maxOpen) are stepped over.
local excess = redis.call('LLEN', plist) - tonumber(ARGV[11])
if excess > 0 then
  for _, id in ipairs(redis.call('LRANGE', plist, 0, excess + maxOpen - 1)) do
    if excess == 0 then break end
    if redis.call('SISMEMBER', popen, id) == 0 then
      redis.call('LREM', plist, 1, id)
      redis.call('DEL', mkey(id), vkey(id))
      excess = excess - 1
    end
  end
end
return emit(ARGV[6])
`)
	// ARGV[3..]: poll ID, voter's participant ID, event JSON, choices (ascending, distinct, >= 0).
	// Answers the Seq; -5 if the voter is not in the room, 0 if the poll is unknown; -2 if the poll is closed; -3 if a
	// choice is not an option, -4 if a single-choice poll got several; -1 if the vote is unchanged.
	voteScript = redis.NewScript(luaLib + pollLib + `
local praw = redis.call('HGET', pkey, ARGV[4])
if not praw then return -5 end
local m = mkey(ARGV[3])
local f = redis.call('HMGET', m, 'n', 'multi', 'closed')
if not f[1] then return 0 end
if f[3] then return -2 end
local choices = {}
for i = 6, #ARGV do choices[#choices + 1] = tonumber(ARGV[i]) end
if choices[#choices] >= tonumber(f[1]) then return -3 end
if f[2] ~= '1' and #choices ~= 1 then return -4 end
local p = cjson.decode(praw)
local v = vkey(ARGV[3])
local old = redis.call('HGET', v, p.identity)
if old then
  local prev = cjson.decode(old).choices
  local same = #prev == #choices
  for i = 1, #choices do same = same and prev[i] == choices[i] end
  if same then return -1 end
  for _, c in ipairs(prev) do redis.call('HINCRBY', m, 'c' .. c, -1) end
else
  redis.call('HINCRBY', m, 'voters', 1)
end
for _, c in ipairs(choices) do redis.call('HINCRBY', m, 'c' .. c, 1) end
redis.call('HSET', v, p.identity, cjson.encode({identity = p.identity, participantId = ARGV[4], name = p.name,
  choices = choices, at = at}))
return emit(ARGV[5])
`)
	// ARGV[3..]: poll ID, closed JSON, event JSON without its closing brace (ending in a comma).
	// Answers the Seq, 0 if the poll is unknown or -1 if it was closed already.
	closePollScript = redis.NewScript(luaLib + pollLib + `
local m = mkey(ARGV[3])
local f = redis.call('HMGET', m, 'def', 'n', 'closed', 'voters')
if not f[1] then return 0 end
if f[3] then return -1 end
redis.call('HSET', m, 'closed', ARGV[4])
redis.call('SREM', popen, ARGV[3])
local results = cjson.encode({counts = counts(m, tonumber(f[2])), voters = tonumber(f[4])})
return emit(ARGV[5] .. '"poll":' .. f[1] .. ',"pollResults":' .. results .. '}')
`)
	// ARGV[3..]: poll ID, voter identity or '', '1' for votes. Answers one pollState, or nil.
	pollScript = redis.NewScript(luaLib + pollLib + `
return pollState(ARGV[3], ARGV[4], ARGV[5] == '1')
`)
	// ARGV[3..]: how many closed polls (< 0: all), voter identity or '', '1' for votes. Answers the
	// pollStates of the open polls and of the newest closed ones, in creation order.
	pollsScript = redis.NewScript(luaLib + pollLib + `
local ids = redis.call('LRANGE', plist, 0, -1)
local open, closed = redis.call('SCARD', popen), tonumber(ARGV[3])
local pick = {}
for i = #ids, 1, -1 do
  if open == 0 and closed == 0 then break end
  if redis.call('SISMEMBER', popen, ids[i]) == 1 then
    open = open - 1
    pick[#pick + 1] = ids[i]
  elseif closed ~= 0 then
    closed = closed - 1
    pick[#pick + 1] = ids[i]
  end
end
local out = {}
for i = #pick, 1, -1 do
  local st = pollState(pick[i], ARGV[4], ARGV[5] == '1')
  if st then out[#out + 1] = st end
end
return out
`)
)
