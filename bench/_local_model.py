"""What running the local model in a worker process costs, against running llama.cpp in this
process (how `LocalModel` worked before it had a worker).

Both sides generate the same tokens: the same rendered prompt, greedy sampling, the same
repeat penalty and stop string, the same build of llama.cpp. Runs alternate between the two
sides so that a busy machine slows both alike; medians are reported.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import time
from dataclasses import dataclass
from typing import Any

from threadline.models import LocalModel, ModelRequest, ModelResponse, local_model_path
from threadline.models._chat_format import chat_messages
from threadline.models._local_prompt import END, render_prompt
from threadline.types import Item, TextPart, UserMessage

PROMPT = "Write a very long story about a dragon."
N_CTX = 2048


@dataclass(frozen=True)
class LocalWorkload:
    max_tokens: int = 256
    samples: int = 7
    restarts: int = 3

    @staticmethod
    def quick() -> LocalWorkload:
        return LocalWorkload(max_tokens=128, samples=3, restarts=2)


def _request(max_tokens: int) -> ModelRequest:
    item = Item(
        item_id="item_1",
        thread_id="thr_bench",
        turn_id="turn_1",
        seq=1,
        status="completed",
        payload=UserMessage(content=(TextPart(text=PROMPT),)),
        created_at=0.0,
    )
    return ModelRequest(instructions=None, items=[item], max_output_tokens=max_tokens)


def _in_process_llama() -> Any:
    import llama_cpp
    from llama_cpp import Llama

    from threadline.models._local_worker import _AMX_FEATURE, _without_extra_buffer_types

    if _AMX_FEATURE in llama_cpp.llama_print_system_info().decode(errors="replace"):
        _without_extra_buffer_types(llama_cpp)
    return Llama(model_path=local_model_path(), n_ctx=N_CTX, verbose=False)


def _generate_in_process(llama: Any, prompt: str, max_tokens: int) -> tuple[int, float, float]:
    """(tokens, seconds to the first token, seconds in all)."""
    started = time.perf_counter()
    first = 0.0
    tokens = 0
    for chunk in llama.create_completion(
        prompt, max_tokens=max_tokens, temperature=0.0, repeat_penalty=1.1, stop=[END], stream=True
    ):
        if chunk["choices"][0]["text"]:
            tokens += 1
            if tokens == 1:
                first = time.perf_counter() - started
    return tokens, first, time.perf_counter() - started


async def _generate_in_worker(model: LocalModel, request: ModelRequest) -> tuple[int, float, float]:
    started = time.perf_counter()
    first = 0.0
    deltas = 0
    async for event in model.stream(request):
        if isinstance(event, ModelResponse):
            break
        deltas += 1
        if deltas == 1:
            first = time.perf_counter() - started
    return deltas, first, time.perf_counter() - started


def _summary(runs: list[tuple[int, float, float]]) -> dict[str, float]:
    per_token = [total / tokens for tokens, _, total in runs if tokens]
    return {
        "tokens": statistics.median(t for t, _, _ in runs),
        "ms_per_token": statistics.median(per_token) * 1000,
        "first_token_ms": statistics.median(f for _, f, _ in runs) * 1000,
    }


async def run(workload: LocalWorkload) -> dict[str, Any]:
    request = _request(workload.max_tokens)
    prompt = render_prompt(chat_messages(request), [])

    started = time.perf_counter()
    llama = await asyncio.to_thread(_in_process_llama)
    in_process_load = time.perf_counter() - started
    model = LocalModel(n_ctx=N_CTX)
    started = time.perf_counter()
    await model.load()
    worker_start = time.perf_counter() - started

    # One warm-up each: caches, page faults, the worker's first grammar-free request.
    _generate_in_process(llama, prompt, workload.max_tokens)
    await _generate_in_worker(model, request)
    in_process: list[tuple[int, float, float]] = []
    in_worker: list[tuple[int, float, float]] = []
    for _ in range(workload.samples):
        in_process.append(
            await asyncio.to_thread(_generate_in_process, llama, prompt, workload.max_tokens)
        )
        in_worker.append(await _generate_in_worker(model, request))

    restarts: list[float] = []
    for _ in range(workload.restarts):
        pid = model.process_id
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        started = time.perf_counter()
        short = ModelRequest(instructions=None, items=request.items, max_output_tokens=1)
        await _generate_in_worker(model, short)
        restarts.append(time.perf_counter() - started)

    a, b = _summary(in_process), _summary(in_worker)
    return {
        "workload": {"max_tokens": workload.max_tokens, "samples": workload.samples},
        "in_process": {**a, "load_s": in_process_load},
        "worker": {
            **b,
            "start_s": worker_start,
            "restart_after_kill_s": statistics.median(restarts),
        },
        "ratio_per_token": b["ms_per_token"] / a["ms_per_token"],
        "overhead_us_per_token": (b["ms_per_token"] - a["ms_per_token"]) * 1000,
    }


def render(result: dict[str, Any]) -> str:
    a, b = result["in_process"], result["worker"]
    return "\n".join(
        [
            "## Local model: worker process vs in-process llama.cpp "
            f"({result['workload']['max_tokens']} tokens, median of "
            f"{result['workload']['samples']})",
            "",
            "| | in-process | worker process | ratio |",
            "|---|---|---|---|",
            f"| ms per token | {a['ms_per_token']:.2f} | {b['ms_per_token']:.2f} | "
            f"{result['ratio_per_token']:.3f}x |",
            f"| first token, ms | {a['first_token_ms']:.1f} | {b['first_token_ms']:.1f} | "
            f"{b['first_token_ms'] / a['first_token_ms']:.2f}x |",
            f"| tokens generated | {a['tokens']:.0f} | {b['tokens']:.0f} | |",
            f"| load / start, s | {a['load_s']:.2f} | {b['start_s']:.2f} | |",
            f"| restart after SIGKILL, s | | {b['restart_after_kill_s']:.2f} | |",
            "",
            f"Isolation costs {result['overhead_us_per_token']:.0f} µs per token.",
        ]
    )
