"""Looking at results: pictures of frames, features and predictions, and run reports.

numpy-level drawing (:mod:`.raster`: bird's-eye, perspective, points over camera images; the
sheets of :mod:`.sheets`: one titled column per model) and run reports (:mod:`.report`) are
re-exported here; :mod:`seal_train.visualize.features` (torch: features, similarity, predictions)
is imported by its users, so importing a drawing never loads a model.
"""

from seal_train.visualize.raster import (
    BACKGROUND,
    birds_eye,
    birds_eye_pixels,
    chase_camera,
    depth_colors,
    perspective,
    points_over_image,
    splat,
    viridis_colors,
    write_png,
)
from seal_train.visualize.report import REPORT_FILE, read_scalars, write_run_report
from seal_train.visualize.sheets import (
    CORRECT_COLOR,
    IGNORED_COLOR,
    TITLE_HEIGHT,
    WRONG_COLOR,
    Column,
    Sheet,
    draw_sheet,
    error_colors,
    label_colors,
    similarity_colors,
)

__all__ = ["BACKGROUND", "CORRECT_COLOR", "IGNORED_COLOR", "REPORT_FILE", "TITLE_HEIGHT",
           "WRONG_COLOR", "Column", "Sheet", "birds_eye", "birds_eye_pixels", "chase_camera",
           "depth_colors", "draw_sheet", "error_colors", "label_colors", "perspective",
           "points_over_image", "read_scalars", "similarity_colors", "splat", "viridis_colors",
           "write_png", "write_run_report"]
