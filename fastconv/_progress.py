"""The Keras-style progress bar printed by fit, evaluate and predict."""
import sys
import time


def _interactive(stream):
    try:
        return stream.isatty() or "ipykernel" in sys.modules
    except (AttributeError, ValueError):
        return False


def _duration(seconds):
    if seconds >= 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    if seconds >= 60:
        return f"{int(seconds // 60)}:{int(seconds % 60):02d}"
    return f"{seconds:.0f}s"


def _per_step(seconds):
    return f"{seconds * 1e3:.0f}ms/step" if seconds >= 1e-3 else f"{seconds * 1e6:.0f}us/step"


class Progbar:
    """``step/total [=====>....] - ETA: 3s - loss: 0.1234 - accuracy: 0.9876``.

    verbose=1: one bar redrawn in place on a terminal (only its final state elsewhere, so
    logs stay short); verbose=2: only the final line; verbose=0: nothing.
    """

    def __init__(self, total, verbose=1, width=30, interval=0.05, stream=None):
        self.total, self.verbose, self.width, self.interval = total, verbose, width, interval
        self.stream = stream or sys.stdout
        self.dynamic = _interactive(self.stream)
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._last_len = 0

    def update(self, step, values=(), finalize=None):
        """Show step of total; finalize (default: step reached total) prints the final line."""
        if self.verbose == 0:
            return
        now = time.perf_counter()
        if finalize is None:
            finalize = self.total is not None and step >= self.total
        if not finalize and (self.verbose != 1 or not self.dynamic
                             or now - self._last_draw < self.interval):
            return
        self._last_draw = now
        elapsed = now - self.start
        metrics = "".join(f" - {k}: {v:.4f}" for k, v in values)
        if self.total is None:          # an iterable without a length, not finished yet
            line = f"{step}/Unknown - {_duration(elapsed)} {_per_step(elapsed / max(step, 1))}" \
                   f"{metrics}"
        elif self.verbose == 2:
            line = f"{step}/{self.total} - {_duration(elapsed)} - " \
                   f"{_per_step(elapsed / max(step, 1))}{metrics}"
        else:
            done = int(self.width * step / self.total) if self.total else self.width
            bar = "=" * max(done - 1, 0) + (">" if done < self.width else "=") if done else ""
            bar = f"[{bar}{'.' * (self.width - len(bar))}]"
            digits = len(str(self.total))
            head = f"{step:>{digits}}/{self.total} {bar}"
            if finalize:
                timing = f"{_duration(elapsed)} {_per_step(elapsed / max(step, 1))}"
            else:
                timing = f"ETA: {_duration(elapsed / max(step, 1) * (self.total - step))}"
            line = f"{head} - {timing}{metrics}"
        if self.dynamic and self.verbose == 1:
            pad = " " * max(self._last_len - len(line), 0)
            self.stream.write("\r" + line + pad + ("\n" if finalize else ""))
            self._last_len = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
