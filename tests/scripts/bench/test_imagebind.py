"""The ImageBind benchmark's stand-in checkpoint: random weights the product loads as it would
load imagebind_huge.pth (strictly), so ingest can run at full cost where the real file is not."""

from __future__ import annotations

import torch

from core.encoders.imagebind import ImageBindConfig, load_imagebind
from scripts.bench.imagebind import main


def test_the_random_weights_load_as_a_checkpoint_of_their_configuration(tmp_path) -> None:
    checkpoint = tmp_path / "random.pth"
    main(["--config", "tiny", "--save-random", str(checkpoint)])
    model = load_imagebind(ImageBindConfig.tiny(), checkpoint)
    saved = torch.load(checkpoint, weights_only=True)
    assert saved.keys() == model.state_dict().keys()
    name = next(iter(saved))
    assert torch.equal(saved[name], model.state_dict()[name])
