"""Images and datasets: decoding, built-in and uploaded datasets, their classes and label files."""
