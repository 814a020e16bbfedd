"""``keras-sr nse-eval``: evaluate a trained Neural Structure Extractor.

Seed 001's protocol (METHODS.md §6.7): contrastive prediction top-1 accuracy
against the valid negatives of the same feature map (~2000 for 192x192
patches), or the jigsaw classification rate over the 24 permutations. With
``--compare-random`` the same evaluation of a randomly initialised NSE and head
(same architecture) is printed side by side.
"""

from __future__ import annotations

import argparse
import json

from keras_sr.utils.atomic import atomic_write_bytes


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "nse-eval",
        help="top-1 / jigsaw accuracy of a trained NSE (SPSR-P / SPSR-J)",
        description=(
            "Evaluate an NSE trained with `keras-sr train --model nse_contrastive|"
            "nse_jigsaw` on non-overlapping crops of a folder of images."
        ),
    )
    p.add_argument("--run", help="training run folder holding nse.keras + head.keras")
    p.add_argument("--nse", help="NSE .keras file (default RUN/nse.keras)")
    p.add_argument(
        "--head", help="predictor / classifier .keras (default RUN/head.keras)"
    )
    p.add_argument("--data", required=True, help="folder of images")
    p.add_argument("--patch-size", type=int, default=192, help="crop side (192)")
    p.add_argument("--max-per-image", type=int, default=4, help="crops per image (4)")
    p.add_argument("--anchors", type=int, default=16, help="anchors per crop (16)")
    p.add_argument(
        "--strategy",
        choices=["h", "v", "c"],
        help="contrastive sampling (default: h, or c for 4-input heads)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--compare-random",
        action="store_true",
        help="also evaluate a randomly initialised NSE + head",
    )
    p.add_argument("--output", help="write the results as JSON to this file")
    p.set_defaults(func=run)


def _paths(args) -> tuple[str, str]:
    import os

    nse = args.nse or (os.path.join(args.run, "nse.keras") if args.run else None)
    head = args.head or (os.path.join(args.run, "head.keras") if args.run else None)
    if not nse or not head:
        raise ValueError("give --run DIR or both --nse and --head")
    for path in (nse, head):
        if not os.path.exists(path):
            raise FileNotFoundError(f"not found: {path}")
    return nse, head


def run(args: argparse.Namespace) -> int:
    import keras

    from keras_sr.gan.nse import (
        ContrastivePredictor,
        JigsawClassifier,
        NeuralStructureExtractor,
        evaluate_nse,
        nse_patches,
    )

    nse_path, head_path = _paths(args)
    extractor = keras.models.load_model(nse_path, compile=False)
    head = keras.models.load_model(head_path, compile=False)
    if not isinstance(extractor, NeuralStructureExtractor):
        raise ValueError(f"{nse_path}: not a NeuralStructureExtractor")
    if not isinstance(head, (ContrastivePredictor, JigsawClassifier)):
        raise ValueError(f"{head_path}: not a ContrastivePredictor / JigsawClassifier")
    images = nse_patches(args.data, args.patch_size, args.max_per_image)
    kwargs = dict(strategy=args.strategy, num_anchors=args.anchors, seed=args.seed)
    results = {"trained": evaluate_nse(extractor, head, images, **kwargs)}
    if args.compare_random:
        keras.utils.set_random_seed(args.seed)
        rand_nse = NeuralStructureExtractor.from_config(extractor.get_config())
        rand_head = type(head).from_config(head.get_config())
        results["random"] = evaluate_nse(rand_nse, rand_head, images, **kwargs)
    print(
        f"{len(images)} crops of {args.patch_size}x{args.patch_size} from {args.data}"
    )
    for name, r in results.items():
        extra = f"  negatives/anchor {r['negatives']:.0f}" if "negatives" in r else ""
        print(
            f"{name:8s} {r['task']}: accuracy {100 * r['accuracy']:.2f}%  "
            f"(chance {100 * r['chance']:.2f}%)  loss {r['loss']:.4f}  "
            f"anchors {r['anchors']}{extra}"
        )
    if args.output:
        atomic_write_bytes(args.output, (json.dumps(results, indent=2) + "\n").encode())
    return 0
