"""The file names of a run folder (--out) and of a committed reference run, in one place for every
module that writes or reads them. No torch here: the site reads reference runs without it."""

METRICS = "metrics.jsonl"  # one JSON line per epoch (mnist.metrics)
CHECKPOINT = "checkpoint.pt"  # weights, optimizer state, random states, settings (mnist.checkpoint)
SETTINGS = "settings.json"  # the recipe: the settings that decide the result (mnist.config.recipe)
RESULTS = "results.json"  # the final test pass's confusion counts and misclassified digits
CURVES, CONFUSION, MISCLASSIFIED = "curves.png", "confusion.png", "misclassified.png"
WEIGHTS = "model.safetensors"  # the final weights for a browser (mnist.export)
CALIBRATION = "calibration.json"  # the Draw page's "unsure" thresholds (mnist.calibrate)

# Everything a training (the first seven) and its tools (mnist.export, mnist.calibrate) write into
# a run folder.
RUN_FILES = (CHECKPOINT, METRICS, RESULTS, SETTINGS, CURVES, CONFUSION, MISCLASSIFIED)
RUN_FILES += (WEIGHTS, CALIBRATION)
