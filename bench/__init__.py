"""threadline's own runtime cost against LangGraph, the OpenAI Agents SDK and Pydantic AI.

    python -m bench            # N=200 threads x M=5 turns
    python -m bench --quick    # N=20 x M=3
    python -m bench --profile  # where threadline's time goes

Every framework runs the same workload with a zero-latency model, on SQLite (WAL,
synchronous=FULL). Not part of the test suite; needs the `bench` extra.
"""
