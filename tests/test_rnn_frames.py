"""Recurrent models read long series in frames of consecutive steps (models/rnn.py MAX_STEPS)."""

import pytest
import torch

from blobbotronic.data.spec import Spec
from blobbotronic.models import create
from blobbotronic.models.rnn import MAX_STEPS, frame_size, to_frames


def series_spec(length: int, channels: int = 1, **extra) -> Spec:
    return Spec("s", "sequence", "classify", (length, channels), 3, extra=dict(extra))


@pytest.mark.parametrize(("length", "expected"), [(100, 1), (MAX_STEPS, 1), (MAX_STEPS + 1, 2), (1460, 6)])
def test_auto_frame_keeps_the_recurrence_within_max_steps(length, expected):
    assert frame_size(series_spec(length), 0) == expected
    assert -(-length // expected) <= MAX_STEPS


def test_stepwise_tasks_text_and_an_explicit_frame_are_not_changed():
    assert frame_size(series_spec(1000, stepwise=True), 0) == 1
    assert frame_size(Spec("t", "text", "classify", (1000,), 2, vocab_size=50), 0) == 1
    assert frame_size(series_spec(1000), 3) == 3


def test_frames_put_consecutive_steps_side_by_side_and_count_partial_frames():
    x = torch.arange(2 * 7 * 2, dtype=torch.float32).view(2, 7, 2)
    framed, lengths = to_frames(x, torch.tensor([7, 4]), 3)
    assert framed.shape == (2, 3, 6)
    assert torch.equal(framed[0, 1], x[0, 3:6].reshape(-1))
    assert torch.equal(framed[0, 2], torch.cat([x[0, 6], torch.zeros(4)]))  # the last frame is zero-padded
    assert lengths.tolist() == [3, 2]


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru"])
def test_a_framed_model_is_the_unframed_model_on_framed_input(name):
    torch.manual_seed(0)
    long = create(name, series_spec(600, 2)).eval()
    assert long.frame == 3
    short = create(name, series_spec(200, 6), frame=1).eval()
    short.load_state_dict(long.state_dict())
    x = torch.randn(4, 600, 2)
    with torch.no_grad():
        assert torch.allclose(long(x), short(x.reshape(4, 200, 6)), atol=1e-5)


def test_padding_past_a_length_does_not_reach_a_framed_model():
    torch.manual_seed(0)
    model = create("lstm", series_spec(600, 1)).eval()
    x = torch.randn(2, 600, 1)
    noisy = x.clone()
    noisy[0, 300:] = 100.0  # past sequence 0's 300 steps (frame 3: its 100 frames end there)
    lengths = torch.tensor([300, 600])
    with torch.no_grad():
        assert torch.allclose(model(x, lengths), model(noisy, lengths), atol=1e-6)


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru"])
def test_the_tag_task_gets_one_output_per_step_that_sees_only_the_past(name):
    spec = Spec("c", "sequence", "tag", (400, 3), 5)
    model = create(name, spec).eval()
    assert model.frame == 1  # never framed: one output per step
    x = torch.randn(2, 400, 3)
    changed = x.clone()
    changed[:, 300:] = 5.0
    with torch.no_grad():
        out, later = model(x), model(changed)
    assert out.shape == (2, 400, 5)
    assert torch.allclose(out[:, :300], later[:, :300], atol=1e-6) and not torch.allclose(out[:, 300:], later[:, 300:])


def test_a_frame_on_the_tag_task_is_refused_in_words():
    from blobbotronic.errors import BlobError

    with pytest.raises(BlobError, match="one output per step"):
        create("lstm", Spec("c", "sequence", "tag", (400, 3), 5), frame=2)
