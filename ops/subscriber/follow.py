#!/usr/bin/env python3
"""Follows one team's Switchboard events on NATS JetStream from a durable position.

An example for in-house consumers in any language: it reads the JetStream messages
Switchboard writes (one message per commit, on subjects <prefix>.<team>.<kind>.<key>),
turns each event into the published envelope (schemas/json/envelope/PublishedEvent.v1.json)
and prints it as one JSON line. The position is a durable consumer on the server: stopped
and started again, it continues after the last event it acknowledged, and an event is
acknowledged only after it was printed (at least once; deduplicate by event_id).

    python3 ops/subscriber/follow.py --url nats://127.0.0.1:4222 --team demo
    python3 ops/subscriber/follow.py --team demo --durable crm-sync --idle-exit 5

Needs nats-py (pip install nats-py; ops/setup.sh puts it in ~/.cache/switchboard/python).
"""

import argparse
import asyncio
import json
import sys

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

INDEX_BITS = 16  # a position is (stream sequence << 16) | index of the event in its commit
ENVELOPE_VERSION = 1


def envelopes(prefix, subject, sequence, body):
    """The events of one commit message, as published envelopes."""
    stream = subject[len(prefix) + 1:]
    commit = json.loads(body)
    for index, event in enumerate(commit["events"]):
        yield {
            "envelope_version": ENVELOPE_VERSION,
            "event_id": event["event_id"],
            "event_type": event["event_type"],
            "schema_version": event["schema_version"],
            "team": stream.split(".", 1)[0],
            "stream": stream,
            "version": commit["first_version"] + index,
            "position": (sequence << INDEX_BITS) | index,
            "commit_id": commit["commit_id"],
            "occurred_at": event["occurred_at"],
            "correlation_id": event["correlation_id"],
            "causation_id": event["causation_id"],
            "payload": event["payload"],
        }


async def follow(args):
    client = await nats.connect(args.url, connect_timeout=5, max_reconnect_attempts=-1)
    js = client.jetstream()
    subject = f"{args.prefix}.{args.team}.>"
    durable = args.durable or f"follow-{args.team}"
    config = ConsumerConfig(
        durable_name=durable,
        filter_subject=subject,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
    )
    subscription = await js.pull_subscribe(subject, durable=durable, stream=args.stream, config=config)
    print(f"following {subject} on stream {args.stream} as durable consumer {durable}", file=sys.stderr)
    idle = 0.0
    while True:
        try:
            messages = await subscription.fetch(args.batch, timeout=1)
        # An empty fetch times out: nats-py raises its TimeoutError or, waiting for a batch,
        # asyncio's, of which its own is a kind.
        except asyncio.TimeoutError:
            idle += 1
            if args.idle_exit and idle >= args.idle_exit:
                break
            continue
        idle = 0.0
        for message in messages:
            sequence = message.metadata.sequence.stream
            for envelope in envelopes(args.prefix, message.subject, sequence, message.data):
                print(json.dumps(envelope, ensure_ascii=False), flush=True)
            await message.ack_sync()
    await client.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="nats://127.0.0.1:4222", help="the NATS server")
    parser.add_argument("--team", required=True, help="the team whose events to follow")
    parser.add_argument("--stream", default="SWITCHBOARD", help="the JetStream stream (store.jetstream.stream)")
    parser.add_argument("--prefix", default="sb", help="the subject prefix (store.jetstream.subject_prefix)")
    parser.add_argument("--durable", help="the durable consumer's name (default follow-<team>)")
    parser.add_argument("--batch", type=int, default=256, help="messages fetched at once")
    parser.add_argument("--idle-exit", type=float, default=0, help="stop after this many idle seconds (0: never)")
    asyncio.run(follow(parser.parse_args()))


if __name__ == "__main__":
    main()
