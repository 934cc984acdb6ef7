import threadline as tl


def test_the_public_surface_is_pinned() -> None:
    assert sorted(tl.__all__) == [
        "Agent", "ApprovalRequest", "ApprovalResponse", "AwaitingInput", "Budget", "BudgetExceededError", "ConfigurationError", "Event", "FilePart",
        "ImagePart", "InvalidInputError", "Item", "LeaseLost", "Mode", "Model", "ModelError",
        "ModelRequest", "NotFoundError", "RecoveryReport", "SQLiteStore", "ScheduledCall", "SchemaVersionError", "Store",
        "StoreError", "Subscription", "SyncThreadline", "TextPart", "Thread", "ThreadList",
        "ThreadManager", "ThreadRecord", "ThreadState", "Threadline", "ThreadlineError", "Tool",
        "ToolError", "TurnCancelledError", "TurnError", "TurnFailedError", "TurnInProgressError",
        "TurnRecord", "TurnResult", "TurnStream", "Usage", "__version__", "open_store",
        "resolve_model", "tool",
    ]
    for name in tl.__all__:
        assert getattr(tl, name) is not None
