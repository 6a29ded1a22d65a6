"""The ledger's one Lua script (shared/ledger.py runs it): an event folded into a message's
entry, its state decided, the indexes and counters kept, all in one atomic call.

One script rather than a read-modify-write in Python because events of the same message
race each other (EngageLab's status callback can be processed while the send is still
being recorded), and because it joins the caller's MULTI/EXEC as a single command: a
message costs the booking transaction one more command, not a round trip.

The entry is one JSON string (cjson), short field names on purpose (Redis memory per event
is what the ledger is sized by):
``b`` booking, ``k`` kind, ``o`` offset, ``t`` masked recipient, ``tp`` template,
``p`` provider id, ``s`` state, ``r`` reason (a failure's code, a skip's reason: it is
also the counter's label, so never free text), ``fd`` the failure is final
(``delivered_failed``),
``e`` events ``[[at, name, detail], ...]`` in time order.

State: the furthest along the message's life, not the last event to arrive. Ranks:
planned 1 < skipped, opted_out 2 < sent 3 < delivered, failed 4. A higher rank wins; on
equal rank the first stays, except: ``delivered`` beats a plain ``failed`` (whichever comes
first), and a ``failed`` whose reason is EngageLab's ``delivered_failed`` beats
``delivered`` (the carrier's own last word). A ``planned`` later than a skip reopens the
message (planned again, e.g. after an opt-in), an earlier one does not. An event added to
LedgerEvent later without a rank here (a reconfirmation, say) joins the timeline and leaves
the state alone.
"""

SCRIPT = """
-- KEYS: 1 entry, 2 recent (zset), 3 counters (hash), 4 this hour's counters (hash),
--       5 booking index (hash: message id -> kind) or '', 6 provider id -> message id or '', 7 waiting orphans of that provider id or ''
-- ARGV: 1 message id, 2 event ('' to only attach the provider id), 3 at, 4 detail (JSON),
--       5 retention (s), 6 now, 7 provider id or '', 8 hourly ttl, 9 most events kept
local RANK = {planned=1, skipped=2, opted_out=2, sent=3, delivered=4, failed=4}
local PLANNED = {booking='b', kind='k', offset='o', to='t', template='tp'}
local id, retention, now = ARGV[1], tonumber(ARGV[5]), tonumber(ARGV[6])
local raw = redis.call('GET', KEYS[1])
local m = raw and cjson.decode(raw) or {}
if type(m.e) ~= 'table' then m.e = {} end
local changed = false

local function final_failure(d)
  return d.reason == 'delivered_failed' or d.status == 'delivered_failed'
end

local function state_at()  -- when the current state was reached: its latest event
  for i = #m.e, 1, -1 do
    if m.e[i][2] == m.s then return m.e[i][1] end
  end
  return 0
end

local function wins(name, at, d)
  local rn = RANK[name]
  if not rn then return false end  -- an event outside the life (a reply ...): in the timeline only
  local old = m.s
  if not old then return true end
  local ro = RANK[old]
  if name == 'planned' and ro == 2 then return at > state_at() end
  if rn ~= ro then return rn > ro end
  if rn == 4 and name ~= old then
    if name == 'failed' then return final_failure(d) end
    return not m.fd
  end
  return false
end

local function apply(name, at, d)
  for _, ev in ipairs(m.e) do
    if ev[1] == at and ev[2] == name then return end  -- the same event again (a duplicated callback)
  end
  for long, short in pairs(PLANNED) do  -- what the message is, from whichever event says it
    if d[long] ~= nil then m[short] = d[long]; d[long] = nil end
  end
  if name == 'sent' and d.provider_id ~= nil then  -- kept once, on the entry
    if not m.p then m.p = d.provider_id end
    if m.p == d.provider_id then d.provider_id = nil end
  end
  local position = #m.e + 1
  while position > 1 and m.e[position - 1][1] > at do position = position - 1 end
  table.insert(m.e, position, {at, name, d})
  while #m.e > tonumber(ARGV[9]) do table.remove(m.e, 2) end  -- the first (the plan) stays
  if wins(name, at, d) then
    local before = m.s
    m.s = name
    -- a failure is known by its code (a short, countable label), else by the provider's
    -- status word, never by its free text (a provider's message: a counter label each); a
    -- skip by its reason (the relay's own words)
    if name == 'failed' then
      m.r = d.code or d.status or 'failed'
    else
      m.r = d.reason or d.code or (name == 'opted_out' and 'opted_out') or nil
    end
    m.fd = (name == 'failed' and final_failure(d)) or nil
    redis.call('HINCRBY', KEYS[3], (m.k or 'unknown') .. '|' .. name .. '|' .. (m.r or ''), 1)
    if name == 'delivered' or name == 'failed' then
      redis.call('HINCRBY', KEYS[4], 'sms_' .. name, 1)
      -- An outcome overturned (delivered, then the carrier's delivered_failed): the
      -- message counts once, as what it is now. Taken back from this hour when it was
      -- counted in it (the usual case, minutes apart); an hour's count never goes negative.
      if (before == 'delivered' or before == 'failed') and
          tonumber(redis.call('HGET', KEYS[4], 'sms_' .. before) or '0') > 0 then
        redis.call('HINCRBY', KEYS[4], 'sms_' .. before, -1)
      end
      redis.call('EXPIRE', KEYS[4], tonumber(ARGV[8]))
    end
  end
  changed = true
end

if ARGV[2] ~= '' then apply(ARGV[2], tonumber(ARGV[3]), cjson.decode(ARGV[4])) end
if ARGV[7] ~= '' then
  if not m.p then m.p = ARGV[7]; changed = true end
  redis.call('SET', KEYS[6], id, 'EX', retention)
  local waiting = redis.call('LRANGE', KEYS[7], 0, -1)
  for _, row in ipairs(waiting) do
    local orphan = cjson.decode(row)
    apply(orphan[2], orphan[1], orphan[3])
  end
  if #waiting > 0 then redis.call('DEL', KEYS[7]) end
end
if not changed then return m.s or false end
redis.call('SET', KEYS[1], cjson.encode(m), 'EX', retention)
local last = m.e[#m.e]
if last then redis.call('ZADD', KEYS[2], 'GT', last[1], id) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - retention)
if KEYS[5] ~= '' then
  redis.call('HSET', KEYS[5], id, m.k or '')
  redis.call('EXPIRE', KEYS[5], retention)
end
return m.s or false
"""
