"""The programs the ``fastconv`` command runs: ``fastconv train-mnist`` (mnist), ``fastconv
train-images`` and ``fastconv draw-images`` (images, drawn_images, pictures)."""
