"""The one-way pipeline's stages and the demo that runs them in a row against the lab."""

from cloudwarden.pipeline.stages import ANALYSIS_STAGES, StageContext, StageResult

__all__ = ["ANALYSIS_STAGES", "StageContext", "StageResult"]
