"""Converter for the original discriminator's state dict: fixture fidelity, key errors, DINO weights, round trips."""
import pytest
import torch

from stylegan_t.augment import DiffAugment
from stylegan_t.convert.discriminator import discriminator_from_official, discriminator_to_official
from stylegan_t.models.discriminator import DiscriminatorConfig, ProjectedDiscriminator, feature_network_preset
from stylegan_t.persistence import StateMismatchError

#: many tiny ops: one intra-op thread per module (conftest.single_thread)
pytestmark = pytest.mark.usefixtures("single_thread")


TOKENS = 196


@pytest.fixture(scope="module")
def official_state(official_dir) -> dict:
    return torch.load(official_dir / "official_D_heads_state_dict.pt")


@pytest.fixture(scope="module")
def official_D(official_state) -> ProjectedDiscriminator:
    # The heads only need a 384-channel, 5-tap feature network; no DINO weights are involved.
    return discriminator_from_official(official_state, c_dim=64, feature_network=feature_network_preset("vit-tiny-384")).eval()


def per_head_error(logits: torch.Tensor, ref: torch.Tensor) -> list[float]:
    diff = (logits.double() - ref.double()).abs()
    return [diff[:, i * TOKENS : (i + 1) * TOKENS].max().item() for i in range(5)]


def test_converted_heads_reproduce_official_logits(official_D, official_io):
    ref = official_io["d_logits"]
    with torch.no_grad():
        logits = official_D.logits_from_features(official_io["d_features"], official_io["c"])
    assert list(official_D.heads) == ["0", "1", "2", "3", "4"]  # blocks 2, 5, 8, 11, then the patch tap
    assert logits.shape == ref.shape == (4, 5 * TOKENS)
    err = per_head_error(logits, ref)
    assert max(err[0], err[2], err[3], err[4]) < 1e-4  # measured: <= 1.5e-5
    # Head 1 (logits up to 173): float32 noise of the reference itself, see the next test. Measured 3.4e-4.
    assert err[1] < 5e-6 * ref[:, TOKENS : 2 * TOKENS].abs().max().item()


def test_head1_gap_is_float32_rounding_of_the_reference(official_D, official_io, official_state):
    """Exact (float64) evaluation of the same weights lands as far from the reference on head 1."""
    cls = {k: official_state[f"heads.1.cls.{k}"].double() for k in ("weight_orig", "weight_u", "weight_v")}
    weight, u, v = cls["weight_orig"].flatten(1), cls["weight_u"], cls["weight_v"]
    sigma64 = u @ weight @ v
    sigma32 = torch.dot(u.float(), torch.mv(weight.float(), v.float())).double()
    # sigma = u^T W v = 0.00166 while |W|_2 = 1.55: heavy cancellation, float32 loses ~3e-6 of it, and the
    # logits (up to 173) scale with 1/sigma, so float32 alone moves them by several 1e-4.
    assert abs(sigma64.item()) < 0.002 and torch.linalg.matrix_norm(weight, 2) > 1.5
    assert abs((sigma32 / sigma64).item() - 1) * 173 > 1e-4
    exact = ProjectedDiscriminator(64, feature_network=feature_network_preset("vit-tiny-384")).double().eval()
    exact.heads.load_state_dict(official_D.heads.state_dict())
    features = {k: v.double() for k, v in official_io["d_features"].items()}
    with torch.no_grad():
        err = per_head_error(exact.logits_from_features(features, official_io["c"].double()), official_io["d_logits"])
    assert err[1] > 1e-4 and max(err[0], err[2], err[3], err[4]) < 1e-4


def test_converter_lists_unknown_and_missing_keys(official_state):
    state = dict(official_state)
    del state["heads.2.cls.bias"]
    state["heads.9.cls.bias"] = torch.zeros(64)
    state["heads.0.main.7.weight"] = torch.zeros(1)
    state["running_mean"] = torch.zeros(1)
    with pytest.raises(StateMismatchError) as err:
        discriminator_from_official(state, c_dim=64, feature_network=feature_network_preset("vit-tiny-384"))
    message = str(err.value)
    assert all(k in message for k in ("heads.2.cls.bias", "heads.9.cls.bias", "heads.0.main.7.weight", "running_mean"))
    assert err.value.missing == ["heads.2.cls.bias"]


def test_converter_casts_to_float32_and_sets_augmentation(official_state):
    config = DiscriminatorConfig(feature_network=feature_network_preset("vit-tiny-384"), diffaug="", p_crop=0.25)
    D = discriminator_from_official(official_state, c_dim=64, diffaug=True, p_crop=0.5, config=config)
    assert all(p.dtype == torch.float32 for p in D.parameters())
    assert isinstance(D.augment_pipe, DiffAugment) and D.augment_pipe.policy == ["color", "translation", "cutout"]
    assert D.config.p_crop == 0.5 and config.diffaug == "" and config.p_crop == 0.25  # caller's config untouched
    u = D.heads["0"].main[0].conv.parametrizations.weight[0]._u
    assert torch.equal(u, official_state["heads.0.main.0.0.weight_u"].float())
    plain = discriminator_from_official(official_state, c_dim=64, config=config)
    assert isinstance(plain.augment_pipe, torch.nn.Identity) and plain.config.p_crop == 0.0


@pytest.mark.parametrize("prefix", ["dino.model.", "dino.", "dino.model.model."])
def test_dino_keys_become_the_feature_network_weights(prefix):
    torch.manual_seed(0)
    source = ProjectedDiscriminator(8, feature_network=feature_network_preset("vit-tiny"))
    state = discriminator_to_official(source, include_feature_network=True)
    state = {(prefix + k[len("dino.model."):] if k.startswith("dino.") else k): v.bfloat16().float() for k, v in state.items()}
    torch.manual_seed(1)  # a different random init, replaced by the checkpoint's weights
    D = discriminator_from_official(state, c_dim=8, feature_network=feature_network_preset("vit-tiny"))
    assert torch.equal(D.feature_network.vit.pos_embed, source.feature_network.vit.pos_embed.bfloat16().float())
    x, c = torch.rand(2, 3, 32, 32) * 2 - 1, torch.randn(2, 8)
    source.load_state_dict({k: v.bfloat16().float() for k, v in source.state_dict().items()})
    with torch.no_grad():
        assert torch.equal(D.eval()(x, c), source.eval()(x, c))


def test_dino_keys_that_do_not_fit_are_listed():
    source = ProjectedDiscriminator(8, feature_network=feature_network_preset("vit-tiny"))
    state = discriminator_to_official(source, include_feature_network=True)
    state["dino.model.blocks.9.attn.qkv.weight"] = torch.zeros(3)
    with pytest.raises(ValueError, match=r"blocks\.9\.attn\.qkv\.weight"):
        discriminator_from_official(state, c_dim=8, feature_network=feature_network_preset("vit-tiny"))


def test_round_trip_keeps_outputs_in_train_and_eval():
    torch.manual_seed(0)
    source = ProjectedDiscriminator(8, feature_network=feature_network_preset("vit-tiny"), diffaug="", p_crop=0.0)
    with torch.no_grad():
        source.train()(torch.randn(8, 3, 32, 32), torch.randn(8, 8))  # move u, v away from their init
    copy = discriminator_from_official(discriminator_to_official(source), c_dim=8, feature_network=source.feature_network)
    x, c = torch.randn(8, 3, 32, 32), torch.randn(8, 8)
    with torch.no_grad():
        for mode in (False, True):
            assert torch.equal(source.train(mode)(x, c), copy.train(mode)(x, c))


def sn_convs(module: torch.nn.Module) -> list[torch.nn.Module]:
    return [m for m in module.modules() if hasattr(m, "parametrizations")]


def legacy_conv(conv: torch.nn.Conv1d) -> torch.nn.Conv1d:
    """The original's layer: ``torch.nn.utils.spectral_norm`` (hook based) on a Conv1d with ``conv``'s tensors."""
    ref = torch.nn.Conv1d(conv.in_channels, conv.out_channels, conv.kernel_size[0], padding=conv.padding[0],
                          padding_mode=conv.padding_mode)
    ref = torch.nn.utils.spectral_norm(ref, eps=1e-12)
    sn = conv.parametrizations.weight
    with torch.no_grad():
        ref.weight_orig.copy_(sn.original)
        ref.bias.copy_(conv.bias)
        ref.weight_u.copy_(sn[0]._u)
        ref.weight_v.copy_(sn[0]._v)
    return ref


def test_training_forward_updates_spectral_norm_in_the_originals_order(official_state):
    """v = normalize(W^T u), then u = normalize(W v): bit for bit the original's vectors and normalised weights
    over several steps (the outputs to float rounding: on the CPU the conv runs as a matmul)."""
    D = discriminator_from_official(official_state, c_dim=64, feature_network=feature_network_preset("vit-tiny-384"))
    convs = sn_convs(D.heads)
    assert len(convs) == 15
    for conv in (convs[0], convs[1], convs[2]):  # k=1, k=9 (circular), cls
        ref = legacy_conv(conv)
        x = torch.randn(4, conv.in_channels, 196)
        for _ in range(3):
            with torch.no_grad():
                torch.testing.assert_close(conv.train()(x), ref.train()(x), rtol=1e-5, atol=1e-5)
                assert torch.equal(conv.eval().weight, ref.weight)  # eval: W / sigma from the stored vectors
            assert torch.equal(conv.parametrizations.weight[0]._u, ref.weight_u)
            assert torch.equal(conv.parametrizations.weight[0]._v, ref.weight_v)


def test_torch_parametrization_order_would_change_training_logits(official_state, official_io):
    """Why the order matters: torch's u-then-v update from the same stored vectors moves training logits by %."""
    from torch.nn.utils import parametrize
    from torch.nn.utils.parametrizations import spectral_norm

    ours = discriminator_from_official(official_state, c_dim=64, feature_network=feature_network_preset("vit-tiny-384"))
    other = discriminator_from_official(official_state, c_dim=64, feature_network=feature_network_preset("vit-tiny-384"))
    for conv in sn_convs(other.heads):
        u, v = conv.parametrizations.weight[0]._u.clone(), conv.parametrizations.weight[0]._v.clone()
        parametrize.remove_parametrizations(conv, "weight", leave_parametrized=False)
        spectral_norm(conv, eps=1e-12)
        with torch.no_grad():
            conv.parametrizations.weight[0]._u.copy_(u)
            conv.parametrizations.weight[0]._v.copy_(v)
    with torch.no_grad():
        a = ours.train().logits_from_features(official_io["d_features"], official_io["c"])
        b = other.train().logits_from_features(official_io["d_features"], official_io["c"])
    rel = ((a - b).abs().max() / a.abs().max()).item()
    assert rel > 0.01, rel
