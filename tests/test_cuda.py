"""The CUDA path: device choice, training steps and shrink on the GPU (marker `cuda`).

benchmarks/gpu_check.sh runs these first on a GPU machine; everywhere else they skip, since the
project's CI has no GPU. Each compares the GPU against the CPU or against the masked large model,
so a wrong kernel, a tensor left on the wrong device or a shrink that breaks under cuDNN fails.
"""
import copy

import pytest
import torch
from torch import nn

import iss
from iss.groups import mask_removed_
from iss_harness.models.lstm_lm import LSTMLanguageModel
from iss_harness.models.rhn import RHNLanguageModel
from iss_harness.data.ptb import batchify
from iss_harness.tasks.train_lm import Schedule, TrainConfig, pick_device, train_epoch

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (run by gpu_check.sh)")]

CUDA = torch.device("cuda")


def lm(seed=0, hidden=(24, 16)):
    torch.manual_seed(seed)
    return LSTMLanguageModel(40, 12, list(hidden), keep_prob=1.0, init_scale=0.3)  # no dropout: same RNG-free maths


def one_epoch(model, device, bf16=False, lam=0.01, threshold=5e-3):
    """Two windows of the harness's own training loop (penalty, clipping, SGD, element threshold)."""
    model = model.to(device)
    cfg = TrainConfig(epochs=1, batch_size=4, num_steps=6, schedule=Schedule(lr=0.5), lam=lam,
                      zero_threshold=threshold, autocast_bf16=bf16, checkpoint_seconds=None)
    torch.manual_seed(1)
    stream = batchify(torch.randint(0, 40, (4 * 6 * 2 + 4,)), 4).to(device)
    families = iss.components(model)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=0.5)
    return model, train_epoch(model, stream, cfg, optimizer, 0, families, trainable)


def test_auto_device_selection_takes_the_gpu():
    assert pick_device("auto").type == "cuda"
    assert pick_device("cpu").type == "cpu"


def test_training_step_on_cuda_equals_the_cpu():
    on_cpu, cpu_result = one_epoch(lm(), torch.device("cpu"))
    on_gpu, gpu_result = one_epoch(lm(), CUDA)
    assert all(p.device.type == "cuda" for p in on_gpu.parameters())
    assert gpu_result["train_perplexity"] == pytest.approx(cpu_result["train_perplexity"], rel=1e-4)
    for (name, cpu_param), gpu_param in zip(on_cpu.named_parameters(), on_gpu.parameters()):
        # cuDNN sums in another order than the CPU kernels; a threshold may then zero a weight on one
        # side only when it sits within float error of 5e-3, hence the absolute tolerance
        torch.testing.assert_close(gpu_param.cpu(), cpu_param, rtol=1e-4, atol=6e-3, msg=name)


def test_penalty_gradient_and_threshold_on_cuda_equal_the_cpu():
    cpu_model = lm(seed=2)
    with torch.no_grad():  # unit 3 of lstm1 small everywhere: the threshold must remove it on both devices
        cpu_model.lstms[0].weight_ih_l0[3::24] *= 0.01
        cpu_model.lstms[0].weight_hh_l0[3::24] *= 0.01
        cpu_model.lstms[0].weight_hh_l0[:, 3] *= 0.01
        cpu_model.lstms[1].weight_ih_l0[:, 3] *= 0.01
    gpu_model = copy.deepcopy(cpu_model).to(CUDA)
    penalties = []
    for model in (cpu_model, gpu_model):
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        penalties.append(float(iss.GroupLasso(model, 0.01).add_grad_()))
        iss.zero_small_(model, 0.01)
    assert penalties[1] == pytest.approx(penalties[0], rel=1e-5)
    for (name, p_cpu), p_gpu in zip(cpu_model.named_parameters(), gpu_model.parameters()):
        torch.testing.assert_close(p_gpu.grad.cpu(), p_cpu.grad, rtol=1e-5, atol=1e-7, msg=name)
        assert torch.equal(p_gpu.cpu() == 0, p_cpu == 0), name
    assert iss.sizes(gpu_model) == iss.sizes(cpu_model) and iss.sizes(gpu_model)["lstm1"] == 23


def test_bf16_autocast_training_on_cuda_stays_close_to_fp32():
    _, fp32 = one_epoch(lm(), CUDA)
    _, bf16 = one_epoch(lm(), CUDA, bf16=True)
    assert torch.isfinite(torch.tensor(bf16["train_perplexity"]))
    assert bf16["train_perplexity"] == pytest.approx(fp32["train_perplexity"], rel=0.05)


def kill(model, fraction_seed=0):
    """Zero about half the components of every family of `model`, as training would."""
    generator = torch.Generator().manual_seed(fraction_seed)
    families = iss.components(model)
    sizes = {family.name: family.size for family in families}
    dead = {name: torch.rand(size, generator=generator) < 0.5 for name, size in sizes.items()}
    for name, mask in dead.items():
        mask[0] = False  # every family keeps one unit
    mask_removed_(model, families, {name: mask.to(next(model.parameters()).device) for name, mask in dead.items()})
    return dead


def test_shrink_on_cuda_equals_the_masked_lm():
    model = lm(seed=3).to(CUDA)
    with torch.no_grad():
        for lstm in model.lstms:
            lstm.bias_ih_l0.uniform_(-0.5, 0.5)
    dead = kill(model)
    compact = iss.shrink(model)
    assert all(p.device.type == "cuda" for p in compact.parameters())
    assert compact.hidden_sizes == [int((~mask).sum()) for mask in dead.values()]
    tokens = torch.randint(0, 40, (9, 5), device=CUDA)
    model.eval(), compact.eval()
    with torch.no_grad():
        big, _ = model(tokens, model.init_state(5))
        small, _ = compact(tokens, compact.init_state(5))
    torch.testing.assert_close(torch.log_softmax(small, -1), torch.log_softmax(big, -1), rtol=1e-4, atol=1e-4)
    assert iss.cost(compact, baseline=model)["weights"] < iss.cost(model)["weights"]


def test_shrink_on_cuda_equals_the_masked_rhn():
    torch.manual_seed(4)
    model = RHNLanguageModel(30, 10, depth=3).to(CUDA).eval()
    dead = kill(model)["rhn"]
    compact = iss.shrink(model).eval()
    alive = (~dead).nonzero().flatten().to(CUDA)
    tokens = torch.randint(0, 30, (7, 3), device=CUDA)
    with torch.no_grad():
        big, big_state = model(tokens, model.init_state(3))
        small, small_state = compact(tokens, compact.init_state(3))
    torch.testing.assert_close(torch.log_softmax(small, -1), torch.log_softmax(big, -1), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(small_state, big_state[:, alive], rtol=1e-4, atol=1e-4)


class Tagger(nn.Module):
    """A user's own bidirectional nn.LSTM model: the public API's generic path (traced consumers)."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(6, 10, num_layers=2, bidirectional=True, batch_first=True)
        self.head = nn.Linear(20, 4)

    def forward(self, x):
        return self.head(self.lstm(x)[0])


def test_shrink_of_a_users_bidirectional_lstm_on_cuda_equals_the_masked_model():
    torch.manual_seed(5)
    model = Tagger().to(CUDA).eval()
    reference = copy.deepcopy(model)
    kill(model)
    compact = iss.shrink(model).eval()
    assert compact.lstm.hidden_size < reference.lstm.hidden_size
    x = torch.randn(3, 8, 6, device=CUDA)
    with torch.no_grad():
        torch.testing.assert_close(compact(x), model(x), rtol=1e-4, atol=1e-4)
