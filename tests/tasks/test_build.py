"""The one build loop's splits held out by content: toy-world items split by entity, a user's items drawn per group
of shared text, and the check that no test or ood text occurs in train."""

import logging
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from datasets import Dataset

from self_explain.tasks.build import DatasetBuilder, content_groups, content_overlap
from self_explain.toyworld.world import ToyWorld


@dataclass(frozen=True)
class Item:
    item_id: int
    text: str
    entity: str = ""
    split: str | None = None


class UserFileBuilder(DatasetBuilder):
    """Items of a user's file: no toy world; items sharing a text are drawn together."""

    key_columns = ("item_id",)
    content_columns = ("text", "question")

    def item_content(self, item):
        return (item.text,)


class ToyBuilder(UserFileBuilder):
    def toy_world(self):
        return ToyWorld.generate(0)


def builder(cls, seed=0, test_fraction=0.5, items=()):
    made = cls(SimpleNamespace(seed=seed, test_fraction=test_fraction))
    keys = [made.item_key(item) for item in items]
    made.split_groups = content_groups(keys, [made.item_content(item) for item in items])
    return made


def rows(texts):
    return Dataset.from_dict({"text": list(texts), "question": [f"{t}\n\nWhat changes?" for t in texts]})


# --- helpers --------------------------------------------------------------------------------------------------


def test_content_groups_join_items_sharing_any_text_under_the_first_key():
    keys = [(0,), (1,), (2,), (3,), (4,)]
    contents = [("a", "b"), ("c",), ("b", "d"), ("d", "c"), ("", "e")]
    assert content_groups(keys, contents) == {(0,): (0,), (1,): (0,), (2,): (0,), (3,): (0,), (4,): (4,)}
    assert content_groups(keys[:2], [("", ""), ("",)]) == {(0,): (0,), (1,): (1,)}, "empty texts join nothing"


def test_content_overlap_counts_rows_sharing_a_text_with_train_in_any_content_column():
    splits = {"train": rows(["x", "y"]), "test": rows(["y", "z", "w"]), "ood": rows(["v"])}
    assert content_overlap(splits, ["text", "question"]) == {"test": 1, "ood": 0}
    # A text of another column counts too: a test prompt that is a train counterfactual.
    crossed = {
        "train": Dataset.from_dict({"a": ["p"], "b": ["q"]}),
        "test": Dataset.from_dict({"a": ["q"], "b": ["r"]}),
    }
    assert content_overlap(crossed, ["a", "b"]) == {"test": 1}
    assert content_overlap({"test": rows(["x"])}, ["text"]) == {"test": 0}, "no train: nothing to overlap with"


# --- splits ---------------------------------------------------------------------------------------------------


def test_toy_world_items_split_by_held_out_entity_and_ood_items_keep_ood():
    world = ToyWorld.generate(0)
    held_out = world.held_out_entities(0)
    assert len(held_out) == len(world.entities) // 4
    items = [Item(i, f"text {i}", entity) for i, entity in enumerate(world.entities)]
    items.append(Item(len(items), "ood text", sorted(held_out)[0], split="ood"))
    items.append(Item(len(items), "ood text 2", sorted(set(world.entities) - held_out)[0], split="ood"))
    made = builder(ToyBuilder, test_fraction=0.0, items=items)
    splits = {item.item_id: made.split_of(item) for item in items}
    assert made.held_out_entities() == held_out
    assert {item.entity for item in items if splits[item.item_id] == "test"} == held_out
    assert not {item.entity for item in items[:-2] if splits[item.item_id] == "train"} & held_out
    assert splits[items[-1].item_id] == splits[items[-2].item_id] == "ood"


def test_same_seed_same_held_out_entities_other_seed_others():
    assert builder(ToyBuilder, seed=3).held_out_entities() == builder(ToyBuilder, seed=3).held_out_entities()
    assert builder(ToyBuilder, seed=3).held_out_entities() != builder(ToyBuilder, seed=4).held_out_entities()
    assert builder(UserFileBuilder).held_out_entities() is None


def test_user_items_sharing_a_text_are_drawn_into_one_split_and_their_own_split_wins():
    items = [Item(i, f"shared {i // 4}") for i in range(80)]  # 20 texts, four items each
    items.append(Item(80, "shared 0", split="ood"))
    made = builder(UserFileBuilder, seed=1, test_fraction=0.5, items=items)
    splits = [made.split_of(item) for item in items]
    for group in range(20):
        assert len(set(splits[4 * group : 4 * group + 4])) == 1
    assert {"train", "test"} <= set(splits[:80])
    assert splits[80] == "ood"
    again = builder(UserFileBuilder, seed=1, test_fraction=0.5, items=items)
    assert [again.split_of(item) for item in items] == splits, "same seed, same split"


def test_user_items_alone_keep_the_per_item_draw():
    """An item that shares no text is drawn from its own key, as before groups existed."""
    from self_explain.tasks.build import seeded_rng

    items = [Item(i, f"text {i}") for i in range(40)]
    made = builder(UserFileBuilder, seed=2, test_fraction=0.3, items=items)
    expected = ["test" if seeded_rng(2, i).random() < 0.3 else "train" for i in range(40)]
    assert [made.split_of(item) for item in items] == expected


# --- the content check ----------------------------------------------------------------------------------------


def test_content_check_records_zero_overlap_and_the_held_out_entities():
    made = builder(ToyBuilder)
    fields = made.content_provenance({"train": rows(["a", "b"]), "test": rows(["c"]), "ood": rows(["d"])})
    assert fields["content_overlap"] == {"columns": ["text", "question"], "rows": {"test": 0, "ood": 0}}
    assert fields["held_out_entities"] == sorted(made.held_out_entities())


def test_content_check_fails_a_toy_world_build_that_shares_text_with_train():
    with pytest.raises(
        ValueError,
        match=r"text/question text also occurs in train: test 1 of 2.*build on the toy world or a fact table",
    ):
        builder(ToyBuilder).content_provenance({"train": rows(["a", "b"]), "test": rows(["b", "c"])})


def test_content_check_warns_about_a_user_file_and_records_the_overlap(caplog):
    with caplog.at_level(logging.WARNING, logger="self_explain.tasks.build"):
        fields = builder(UserFileBuilder).content_provenance(
            {"train": rows(["a", "b"]), "test": rows(["b", "c"]), "ood": rows(["a"])}
        )
    assert fields == {"content_overlap": {"columns": ["text", "question"], "rows": {"test": 1, "ood": 1}}}
    assert "test 1 of 2, ood 1 of 1" in caplog.text


def test_a_task_without_content_columns_records_no_overlap():
    class FeatureLike(DatasetBuilder):
        key_columns = ("item_id",)

    assert builder(FeatureLike).content_provenance({"train": rows(["a"]), "test": rows(["a"])}) == {}
