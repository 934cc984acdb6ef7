"""`run_code` from a tool: a durable nested step (a `run_code` call of the tool, then its
result), run in the sandbox chosen for its language; what the code reports streams as
`system_event`s of phase `code_report`."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson

from threadline._redaction import redact
from threadline.sandbox import CodeJob, CodeResult
from threadline.sandbox._choice import choose
from threadline.sandbox._run import CodeRun
from threadline.types import SystemEvent, ToolResult, system_event_params

from ._context import NewItem, TurnContext
from ._history import result_item_id
from ._tool_calls import STATE_OF_OUTCOME, begin_nested

if TYPE_CHECKING:
    from ._tool_step import Invocation

RUN_CODE = "run_code"  # the name of a code step's nested call
CODE_REPORT_PHASE = "code_report"


class CodeRunServices:
    """The `run_code` service of a tool's `ThreadState` (a mixin of the services a tool step
    lends)."""

    _ctx: TurnContext
    _invocation: Invocation

    def run_code(
        self, caller: Any, number: int, job: CodeJob, backend: str, idempotent: bool
    ) -> CodeRun:
        parent_call_id: str = caller.tool_call_id

        async def start(run: CodeRun) -> CodeResult:
            return await self._run_code(run, parent_call_id, number, job, backend, idempotent)

        return CodeRun(start)

    async def _run_code(
        self,
        run: CodeRun,
        parent_call_id: str,
        number: int,
        job: CodeJob,
        backend: str,
        idempotent: bool,
    ) -> CodeResult:
        ctx = self._ctx
        box = choose(job.language, backend)
        arguments = orjson.dumps(
            {
                "language": job.language,
                "backend": box.name,
                "source": job.source,
                "modules": dict(job.modules),
                "execute": None if job.execute is None else [job.execute[0], job.execute[1]],
            },
            default=repr,
        ).decode()
        call, call_item_id, earlier = await begin_nested(
            ctx, parent_call_id, number, RUN_CODE, arguments, idempotent=idempotent
        )
        if earlier is not None:
            return stored_code_result(earlier, box.name)
        result_id = result_item_id(call_item_id)
        ctx.item_started(
            result_id,
            ToolResult(
                tool_call_id=call.tool_call_id,
                name=RUN_CODE,
                output="",
                parent_call_id=parent_call_id,
            ),
            streams=True,
        )
        result = await self._sandboxed(run, box, job, call.tool_call_id)
        payload = ToolResult(
            tool_call_id=call.tool_call_id,
            name=RUN_CODE,
            output=orjson.dumps(result.to_dict(), default=repr).decode(),
            outcome="success" if result.status == "ok" else "error",
            parent_call_id=parent_call_id,
        )
        await ctx.commit(
            [NewItem(item_id=result_id, payload=payload)],
            tool_states={call.tool_call_id: STATE_OF_OUTCOME[payload.outcome]},
        )
        await ctx.fault("after_nested_tool_result")
        return redact(result)

    async def _sandboxed(self, run: CodeRun, box: Any, job: CodeJob, call_id: str) -> CodeResult:
        missing = box.missing()
        if missing is not None:
            return CodeResult(status="link_error", error=missing, backend=box.name)
        ctx = self._ctx
        given = job.on_report

        def reported(value: Any) -> None:
            event = SystemEvent(
                phase=CODE_REPORT_PHASE,
                message="the code reported a value",
                data={"tool_call_id": call_id, "value": redact(value)},
            )
            if not ctx.ending:
                ctx.events.emit("system_event", params=system_event_params(event))
            if given is not None:
                given(value)

        job = replace(job, on_report=reported)
        if box.name == "bubblewrap":
            job = replace(job, files=await self._thread_files())
        try:
            result = await box.run(job)
        except asyncio.CancelledError:
            if run.reason is None:
                raise  # the turn stops: the open step is answered with its caller
            return CodeResult(status="terminated", error=run.reason, backend=box.name)
        if result.files:
            await self._apply_files(result)
        return result

    async def _thread_files(self) -> dict[str, bytes]:
        files = self._invocation.file_changes(self._ctx)
        return {
            info.path: await files.read_file(info.path)
            for info in await files.readdir_file("")
            if info.kind == "file"
        }

    async def _apply_files(self, result: CodeResult) -> None:
        files = self._invocation.file_changes(self._ctx)
        for path, data in result.files.items():
            if data is None:
                await files.delete_file(path)
            else:
                await files.write_file(path, data)


def stored_code_result(result: ToolResult, backend: str) -> CodeResult:
    """The `CodeResult` a code step stored; for a step cut off by a crash and not run again,
    a `terminated` one saying so."""
    if result.outcome == "unknown":
        return CodeResult(
            status="terminated",
            error="the run was cut off by an interruption and was not run again",
            backend=backend,
        )
    data: dict[str, Any] = orjson.loads(result.output)
    return CodeResult(
        status=data["status"],
        value=data.get("value"),
        error=data.get("error"),
        stdout=data.get("stdout", ""),
        reports=tuple(data.get("reports", [])),
        backend=data.get("backend", backend),
    )
