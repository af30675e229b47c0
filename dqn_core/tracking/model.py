"""Model export: a network as an MLflow model in ``pt2`` format (``torch.export``).

:meth:`Tracker.log_model <dqn_core.tracking.tracker.Tracker.log_model>` calls
:func:`_log_pt2_model` and falls back to the ``state_dict`` when export fails.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from mlflow.models.model import ModelInfo


def _log_pt2_model(
    module: torch.nn.Module,
    name: str,
    example: Any,
    *,
    uri: str,
    experiment_id: str | None,
    run_id: str,
) -> ModelInfo:
    """``mlflow.pytorch.log_model`` of a CPU module in eval mode (raises on failure).

    The process-wide tracking URI is pointed at ``uri`` for the call, and set
    back afterwards when one was set before.
    """
    import mlflow
    import mlflow.pytorch
    import numpy as np
    import torch

    previous_uri = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    try:
        # Model.log resolves the store and the experiment of the LoggedModel from
        # the fluent API, not from run_id: point both at this run's.
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(experiment_id=experiment_id)
        return mlflow.pytorch.log_model(
            module,
            name=name,
            input_example=example,
            serialization_format="pt2",
            run_id=run_id,
            # Explicit requirements: MLflow's inference re-imports the model in
            # a subprocess, which takes seconds to minutes.
            pip_requirements=[
                f"torch=={torch.__version__.split('+')[0]}",
                f"numpy=={np.__version__}",
            ],
        )
    finally:
        if previous_uri is not None:
            mlflow.set_tracking_uri(previous_uri)


def _example_batch(module: torch.nn.Module, example: Any) -> Any:
    """A numpy batch of >= 2 rows for ``torch.export`` (dynamic batch dimension)."""
    import numpy as np
    import torch

    if example is not None:
        arr = example.detach().cpu().numpy() if isinstance(example, torch.Tensor) else example
        arr = np.asarray(arr)
        if arr.ndim == 0:
            raise ValueError("input_example: expected a batch of observations, got a scalar")
        # A batch of 1 would make torch.export specialise the batch dimension to 1.
        return np.concatenate([arr, arr]) if len(arr) == 1 else arr
    candidates: list[tuple[torch.dtype, tuple[int, ...]]] = []
    for m in module.modules():
        shape = getattr(m, "obs_shape", None)
        if shape:
            candidates = [(torch.uint8, tuple(shape)), (torch.float32, tuple(shape))]
            break
    else:
        for m in module.modules():
            width = getattr(m, "in_features", None)
            if isinstance(width, int):
                candidates = [(torch.float32, (width,))]
                break
    for dtype, dims in candidates:
        x = torch.zeros((2, *dims), dtype=dtype)
        try:
            with torch.no_grad():
                module(x)
        except Exception:
            continue
        return x.numpy()
    raise ValueError(
        f"cannot infer an input example for {type(module).__name__} (no obs_shape or "
        "in_features attribute that works); pass input_example="
    )
