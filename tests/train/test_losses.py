"""Pixel, perceptual and GAN losses."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from srkit.train.losses import (
    GAN_LOSSES,
    REAL_ESRGAN_LAYER_WEIGHTS,
    PerceptualLoss,
    VGGWeightsError,
    charbonnier_loss,
    gan_loss,
    gradient_penalty,
    noisy_labels,
    pixel_loss,
)

# torchvision's vgg19().features, written out independently: (module index, in, out) of every conv.
VGG19_CONVS = [(0, 3, 64), (2, 64, 64), (5, 64, 128), (7, 128, 128), (10, 128, 256), (12, 256, 256),
               (14, 256, 256), (16, 256, 256), (19, 256, 512), (21, 512, 512), (23, 512, 512), (25, 512, 512),
               (28, 512, 512), (30, 512, 512), (32, 512, 512), (34, 512, 512)]


def random_vgg19_state(seed: int = 0, upto: int = 34) -> dict[str, torch.Tensor]:
    """Random weights in torchvision's layout for the convs up to module index ``upto`` (all by default;
    the error tests use a short prefix to keep the files small)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for index, cin, cout in VGG19_CONVS:
        if index > upto:
            break
        std = math.sqrt(2 / (9 * cin))
        state[f"features.{index}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * std
        state[f"features.{index}.bias"] = torch.randn(cout, generator=g) * 0.01
    state["classifier.0.weight"] = torch.zeros(4, 4)  # a full torchvision dict has these: ignored
    return state


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("vgg") / "vgg19.safetensors"
    save_file(random_vgg19_state(), str(path))
    return path


@pytest.fixture(scope="module")
def perceptual(vgg_file):
    return PerceptualLoss(vgg_file)


# --- pixel losses -----------------------------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), spread=st.floats(1e-4, 1.0))
def test_charbonnier_sits_between_l1_and_l1_plus_eps(seed, spread):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(1, 1, 8, 8, generator=g, dtype=torch.float64)
    b = a + spread * torch.randn(1, 1, 8, 8, generator=g, dtype=torch.float64)
    l1 = pixel_loss("l1")(a, b).item()
    ch = charbonnier_loss(a, b).item()
    assert l1 <= ch <= l1 + 1e-3 + 1e-12


def test_pixel_losses_on_known_differences():
    a = torch.zeros(1, 1, 2, 2)
    b = torch.full((1, 1, 2, 2), 0.5)
    assert pixel_loss("L1")(a, b).item() == pytest.approx(0.5)
    assert pixel_loss("mse")(a, b).item() == pytest.approx(0.25)
    assert charbonnier_loss(a, a).item() == pytest.approx(1e-3)  # eps = 1e-3: the floor of the loss
    with pytest.raises(ValueError, match="unknown pixel loss"):
        pixel_loss("ssim")


# --- perceptual loss --------------------------------------------------------------------------------

def test_perceptual_zero_for_identical_positive_otherwise(perceptual):
    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 32)
    assert perceptual(x, x.clone()).item() == 0.0
    assert perceptual(x, (x + 0.05 * torch.randn_like(x)).clamp(0, 1)).item() > 0


def test_perceptual_gray_is_repeated_to_rgb(perceptual):
    torch.manual_seed(1)
    a, b = torch.rand(1, 1, 24, 24), torch.rand(1, 1, 24, 24)
    assert torch.allclose(perceptual(a, b), perceptual(a.repeat(1, 3, 1, 1), b.repeat(1, 3, 1, 1)))


def test_perceptual_gradient_reaches_prediction_only(perceptual):
    pred = torch.rand(1, 3, 24, 24, requires_grad=True)
    perceptual(pred, torch.rand(1, 3, 24, 24)).backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in perceptual.parameters())
    perceptual.train()
    assert not perceptual.vgg.training


def test_perceptual_defaults_are_real_esrgan():
    assert REAL_ESRGAN_LAYER_WEIGHTS == {"conv1_2": 0.1, "conv2_2": 0.1, "conv3_4": 1.0, "conv4_4": 1.0,
                                         "conv5_4": 1.0}


def test_perceptual_uses_features_before_relu_with_imagenet_norm(tmp_path):
    """Reference computed by hand from the state dict: conv1_2 and conv2_2 outputs before their ReLU."""
    state = random_vgg19_state(seed=4, upto=7)
    save_file(state, str(tmp_path / "short.safetensors"))
    loss = PerceptualLoss(tmp_path / "short.safetensors", layer_weights={"conv1_2": 0.1, "conv2_2": 0.1})

    def feats(x):
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        x = (x - mean) / std
        def conv(t, i):
            return F.conv2d(t, state[f"features.{i}.weight"], state[f"features.{i}.bias"], padding=1)

        f1 = conv(F.relu(conv(x, 0)), 2)
        f2 = conv(F.relu(conv(F.max_pool2d(F.relu(f1), 2), 5)), 7)
        return f1, f2

    torch.manual_seed(3)
    a, b = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    (a1, a2), (b1, b2) = feats(a), feats(b)
    expected = 0.1 * F.l1_loss(a1, b1) + 0.1 * F.l1_loss(a2, b2)
    assert torch.allclose(loss(a, b), expected, rtol=1e-5, atol=1e-6)


def test_perceptual_loads_pth_with_weights_only(tmp_path):
    path = tmp_path / "vgg19.pth"
    torch.save(random_vgg19_state(seed=5, upto=2), path)
    x, y = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    assert PerceptualLoss(path, layer_weights={"conv1_2": 1.0})(x, y).item() > 0


def test_perceptual_missing_file_is_clear(tmp_path):
    missing = tmp_path / "nope.pth"
    with pytest.raises(VGGWeightsError, match=r"nope\.pth does not exist.*nothing is downloaded"):
        PerceptualLoss(missing)


def test_perceptual_wrong_keys_and_shapes_are_clear(tmp_path):
    short = random_vgg19_state(upto=7)
    renamed = {k.replace("features.", "vgg."): v for k, v in short.items()}
    bad_keys = tmp_path / "renamed.safetensors"
    save_file(renamed, str(bad_keys))
    with pytest.raises(VGGWeightsError, match=r"renamed\.safetensors.*features\.0\.weight"):
        PerceptualLoss(bad_keys, layer_weights={"conv2_2": 1.0})
    with pytest.raises(VGGWeightsError, match=r"missing \['features\.10\.weight"):
        save_file(short, str(tmp_path / "short.safetensors"))
        PerceptualLoss(tmp_path / "short.safetensors")  # the default layers reach conv5_4
    short["features.7.weight"] = torch.zeros(64, 128, 3, 3)
    bad_shape = tmp_path / "shape.pth"
    torch.save(short, bad_shape)
    with pytest.raises(VGGWeightsError, match=r"shape\.pth have wrong shapes.*features\.7\.weight"):
        PerceptualLoss(bad_shape, layer_weights={"conv2_2": 1.0})
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(VGGWeightsError, match=r"cannot read VGG19 weights .*garbage\.pth"):
        PerceptualLoss(garbage)


# --- GAN losses -------------------------------------------------------------------------------------

KINDS = sorted(GAN_LOSSES)


@pytest.mark.parametrize("kind", KINDS)
def test_gan_losses_finite_and_signs(kind):
    loss = gan_loss(kind)
    g = torch.Generator().manual_seed(0)
    real = 0.3 * torch.randn(8, 1, generator=g)
    fake = 0.3 * torch.randn(8, 1, generator=g)
    g_loss = loss.generator_loss(fake, real)
    d_loss = loss.discriminator_loss(real, fake)
    assert torch.isfinite(g_loss) and torch.isfinite(d_loss)
    # The generator gains when D scores its fakes higher; D gains when real rises or fake falls.
    assert loss.generator_loss(fake + 0.5, real) < g_loss
    assert loss.discriminator_loss(real + 0.5, fake) < d_loss
    assert loss.discriminator_loss(real, fake - 0.5) < d_loss
    assert loss.discriminator_loss(real, fake + 0.5) > d_loss


def test_vanilla_values_at_zero_logits():
    loss = gan_loss("vanilla")
    zero = torch.zeros(4, 1)
    assert loss.generator_loss(zero).item() == pytest.approx(math.log(2))
    assert loss.discriminator_loss(zero, zero).item() == pytest.approx(2 * math.log(2))


def test_ragan_needs_real_logits_and_is_relative():
    loss = gan_loss("ragan")
    with pytest.raises(ValueError, match="real_logits"):
        loss.generator_loss(torch.zeros(2, 1))
    real, fake = torch.randn(6, 1), torch.randn(6, 1)
    # Only differences matter: shifting every logit changes nothing.
    assert torch.allclose(loss.discriminator_loss(real + 3, fake + 3), loss.discriminator_loss(real, fake))
    assert torch.allclose(loss.generator_loss(fake + 3, real + 3), loss.generator_loss(fake, real))


def test_hinge_is_flat_beyond_the_margin():
    loss = gan_loss("hinge")
    assert loss.discriminator_loss(torch.full((3, 1), 2.0), torch.full((3, 1), -2.0)).item() == 0.0


def test_unknown_gan_loss_and_bad_options():
    with pytest.raises(ValueError, match="unknown GAN loss"):
        gan_loss("lsgan")
    with pytest.raises(ValueError, match="does not take options"):
        gan_loss("hinge", label_smoothing=True)


def test_label_smoothing_ranges_and_flip_rate():
    g = torch.Generator().manual_seed(0)
    n = 200_000
    real = noisy_labels((n,), True, (0.85, 1.10), (0.0, 0.15), 0.0, g)
    fake = noisy_labels((n,), False, (0.85, 1.10), (0.0, 0.15), 0.0, g)
    assert 0.85 <= real.min() and real.max() <= 1.10
    assert 0.0 <= fake.min() and fake.max() <= 0.15
    assert real.mean().item() == pytest.approx(0.975, abs=0.002)
    noisy = noisy_labels((n,), True, (0.85, 1.10), (0.0, 0.15), 0.05, g)
    flipped = (noisy <= 0.15).float().mean().item()
    assert flipped == pytest.approx(0.05, abs=0.003)
    assert ((noisy <= 0.15) | (noisy >= 0.85)).all()


def test_vanilla_label_noise_is_reproducible_from_a_generator():
    real, fake = torch.randn(64, 1), torch.randn(64, 1)
    smooth = gan_loss("vanilla", label_smoothing=True)
    a = smooth.discriminator_loss(real, fake, generator=torch.Generator().manual_seed(7))
    b = smooth.discriminator_loss(real, fake, generator=torch.Generator().manual_seed(7))
    c = smooth.discriminator_loss(real, fake, generator=torch.Generator().manual_seed(8))
    assert a.item() == b.item() != c.item()
    assert a.item() != gan_loss("vanilla").discriminator_loss(real, fake).item()
    seeded = gan_loss("vanilla", label_smoothing=True, generator=torch.Generator().manual_seed(7))
    assert seeded.discriminator_loss(real, fake).item() == a.item()


class LinearCritic(torch.nn.Module):
    """D(x) = <w, x> per sample: its input gradient is w everywhere."""

    def __init__(self, shape, norm: float):
        super().__init__()
        w = torch.randn(shape, generator=torch.Generator().manual_seed(0))
        self.w = torch.nn.Parameter(w * norm / w.norm())

    def forward(self, x):
        return (x * self.w).flatten(1).sum(1, keepdim=True)


def test_gradient_penalty_zero_for_unit_gradient_critic():
    real, fake = torch.rand(4, 1, 8, 8), torch.rand(4, 1, 8, 8)
    gp = gradient_penalty(LinearCritic((1, 8, 8), 1.0), real, fake, weight=10)
    assert gp.item() == pytest.approx(0.0, abs=1e-8)


def test_gradient_penalty_value_and_gradient_for_steep_critic():
    critic = LinearCritic((1, 8, 8), 2.0)
    real, fake = torch.rand(4, 1, 8, 8), torch.rand(4, 1, 8, 8)
    gp = gradient_penalty(critic, real, fake, weight=10)
    assert gp.item() == pytest.approx(10.0, rel=1e-5)  # 10 * (2 - 1)^2
    gp.backward()
    assert critic.w.grad is not None and critic.w.grad.abs().sum() > 0  # it trains the critic


def test_gradient_penalty_reproducible_with_generator():
    torch.manual_seed(0)
    nn = torch.nn
    critic = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 1))
    real, fake = torch.rand(3, 1, 4, 4), torch.rand(3, 1, 4, 4)
    a = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(1))
    b = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(1))
    assert a.item() == b.item() and math.isfinite(a.item())
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(critic, real, fake[:2])
