#!/usr/bin/env bash
# The core crates must stay free of I/O: schemas and engine never depend on networking,
# a database or an adapter. Fails naming the offending crate.
set -euo pipefail
cd "$(dirname "$0")/.."
forbidden='^(mio|socket2|hyper|poem|poem-openapi|rusqlite|libsqlite3-sys|async-nats|eventstore|meilisearch-sdk|ort|tokio-postgres|postgres|sqlx|reqwest|ureq|switchboard-embedded|switchboard-search|switchboard-http|switchboard-cli) '
status=0
for crate in switchboard-schemas switchboard-engine; do
    tree=$(cargo tree --locked -p "$crate" -e normal --prefix none)
    [ -n "$tree" ] || { echo "cargo tree printed nothing for $crate" >&2; exit 1; }
    found=$(echo "$tree" | sort -u | grep -E "$forbidden" || true)
    if [ -n "$found" ]; then
        echo "boundary violated: $crate depends on:" >&2
        echo "$found" >&2
        status=1
    fi
done
schemas_tree=$(cargo tree --locked -p switchboard-schemas -e normal --prefix none)
if echo "$schemas_tree" | grep -q '^tokio '; then
    echo "boundary violated: switchboard-schemas depends on tokio" >&2
    status=1
fi
# HTTP handlers call the runtime and the stream watches, never the event log itself (the
# in-process test harness, which builds the application on a log, aside).
reaching=$(grep -rnE 'EventLog|\.log\(\)|read_stream|read_all' adapters/http/src --include=*.rs | grep -v '^adapters/http/src/testing.rs:' || true)
if [ -n "$reaching" ]; then
    echo "boundary violated: the HTTP edge reaches the event log:" >&2
    echo "$reaching" >&2
    status=1
fi
[ $status -eq 0 ] && echo "boundaries ok: schemas and engine have no networking, database or adapter dependency" >&2
exit $status
