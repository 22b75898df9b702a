"""The ``fastconv`` command: ``fastconv train-mnist``, ``fastconv train-images DIR``,
``fastconv draw-images DIR``, ``fastconv info``.

It fails like a command-line tool: an error the user can fix (no data and no internet, a
folder that does not exist, an option value out of range, an output folder that cannot be
written) prints one line, ``fastconv: error: ...``, to stderr and exits with status 1 (2 for a
bad command line, as argparse does); Ctrl-C exits with 130. A traceback is kept for bugs, and
for every error with ``--debug``.
"""
import argparse
import sys

from ._command import CommandError


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # argparse's own message, on one line, with where to look instead of the usage block
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _one_line(message):
    return " ".join(str(message).split())


def main(argv=None):
    parser = _Parser(prog="fastconv", description="fastconv's command line")
    parser.add_argument("--debug", action="store_true",
                        help="show a traceback for every error, not only for bugs")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    from .examples import mnist
    train = commands.add_parser("train-mnist", help="train the Keras book's MNIST convnet",
                                description=mnist.__doc__)
    mnist.add_arguments(train)
    train.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show a traceback for every error, not only for bugs")
    from .examples import images
    train_images = commands.add_parser(
        "train-images", help="train the book's small convnet on a folder of pictures",
        description=images.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    images.add_arguments(train_images)
    draw = commands.add_parser("draw-images", help="draw a two-class folder of pictures to "
                               "train on", description=images.draw.__doc__)
    images.add_draw_arguments(draw)
    for sub in (train_images, draw):
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help="show a traceback for every error, not only for bugs")
    commands.add_parser("info", help="show the build: versions, compiler, OpenMP, threads, SIMD")
    args = parser.parse_args(argv)
    try:
        if args.command == "info":
            from ._info import show_config
            show_config()
        if args.command == "train-images":
            images.check_arguments(args)
            images.run(args)
        if args.command == "draw-images":
            images.draw(args)
        if args.command == "train-mnist":
            mnist.check_arguments(args)
            mnist.run(args.epochs, args.batch_size, args.data_dir, args.plot_file, args.seed,
                      args.verbose, args.pictures)
    except CommandError as e:
        if args.debug:
            raise
        print(f"fastconv: error: {_one_line(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("fastconv: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
