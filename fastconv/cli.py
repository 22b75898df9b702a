"""The ``fastconv`` command: ``fastconv train-mnist [options]``, ``fastconv info``."""
import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="fastconv", description="fastconv's command line")
    commands = parser.add_subparsers(dest="command", required=True)
    from .examples import mnist
    train = commands.add_parser("train-mnist", help="train the Keras book's MNIST convnet",
                                description=mnist.__doc__)
    mnist.add_arguments(train)
    commands.add_parser("info", help="show the build: versions, compiler, OpenMP, threads, SIMD")
    args = parser.parse_args(argv)
    if args.command == "info":
        from ._info import show_config
        show_config()
    if args.command == "train-mnist":
        mnist.run(args.epochs, args.batch_size, args.data_dir, args.plot_file, args.seed,
                  args.verbose)
    return 0


if __name__ == "__main__":
    sys.exit(main())
