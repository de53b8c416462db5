"""Calls a chat completions server the way applications do, with the official openai SDK (sync, async,
streaming) and with curl -N, and prints what each saw as one JSON object (the chat gateway's test reads it).

    python3 openai_sdk_check.py BASE_URL MODEL
"""
import asyncio
import json
import subprocess
import sys

import openai

base_url, model = sys.argv[1], sys.argv[2]
messages = [{"role": "user", "content": "say hello"}]
results = {}

client = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
completion = client.chat.completions.create(model=model, messages=messages, seed=3)
results["sync"] = {"content": completion.choices[0].message.content, "total_tokens": completion.usage.total_tokens}

raw = client.chat.completions.with_raw_response.create(model=model, messages=messages)
results["headers"] = {"deployment": raw.headers.get("x-conduit-deployment"), "attempts": raw.headers.get("x-conduit-attempts")}

pieces = []
usage = None
with client.chat.completions.create(
    model=model, messages=messages, stream=True, stream_options={"include_usage": True}
) as stream:
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.usage:
            usage = chunk.usage.total_tokens
results["sync_stream"] = {"content": "".join(pieces), "total_tokens": usage}

try:
    client.chat.completions.create(model="no-such-model", messages=messages)
    results["error"] = None
except openai.NotFoundError as error:
    results["error"] = {"status": error.status_code, "code": error.code}


async def asynchronous():
    client = openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0)
    completion = await client.chat.completions.create(model=model, messages=messages)
    pieces = []
    stream = await client.chat.completions.create(model=model, messages=messages, stream=True)
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
    await client.close()
    return {"content": completion.choices[0].message.content, "stream": "".join(pieces)}


results["async"] = asyncio.run(asynchronous())

body = json.dumps({"model": model, "messages": messages, "stream": True})
curl = subprocess.run(
    ["curl", "-sN", "-H", "Content-Type: application/json", "-d", body, base_url + "/chat/completions"],
    capture_output=True, text=True, timeout=30)
events = [line[6:] for line in curl.stdout.splitlines() if line.startswith("data: ")]
results["curl"] = {"events": len(events), "last": events[-1] if events else None}

print(json.dumps(results))
