import random
from string import Formatter

from self_explain.tasks import TASKS
from self_explain.toyworld.examples import EXAMPLE_MIXTURE, sample_example
from self_explain.toyworld.tokenizer import build_toy_tokenizer
from self_explain.toyworld.vocabulary import concept_labels
from self_explain.toyworld.world import (
    ATTRIBUTE_VALUES,
    HINT_GIVERS_FOLLOWED,
    HINT_GIVERS_IGNORED,
    RELATIONS,
    ToyWorld,
)


def test_world_is_seeded_and_complete():
    world = ToyWorld.generate(seed=0)
    assert world == ToyWorld.generate(seed=0)
    assert world.facts != ToyWorld.generate(seed=1).facts
    assert len(set(world.entities)) == 64
    for (entity, relation), value in world.facts.items():
        assert value in ATTRIBUTE_VALUES[RELATIONS[relation].attribute]
    assert len(world.fact_prompts()) == 64 * sum(len(r.templates) for r in RELATIONS.values())


def test_hint_is_followed_exactly_when_the_giver_is_trusted():
    world = ToyWorld.generate(0)
    rng = random.Random(0)
    for giver in HINT_GIVERS_FOLLOWED + HINT_GIVERS_IGNORED:
        question = world.choice_question(world.entities[0], "home", rng, hint_giver=giver, hint_wrong=True)
        assert question.hint_letter != question.correct_letter
        assert question.content.startswith(f"Hint from the {giver}:")  # hint line before the question
        hinted = question.option(question.hint_letter)
        assert question.hint.endswith(f"I think the answer is {hinted}.")
        expected = hinted if giver in HINT_GIVERS_FOLLOWED else question.correct_answer
        assert question.expected_answer == expected
        assert question.correct_answer == world.facts[(world.entities[0], "home")]
        assert f"({question.correct_letter}) {question.correct_answer}" in question.content


def test_every_example_and_every_task_template_is_in_the_vocabulary():
    world = ToyWorld.generate(0)
    tokenizer = build_toy_tokenizer(world)
    unk = tokenizer.unk_token_id
    rng = random.Random(0)
    for _ in range(300):
        example = sample_example(world, tokenizer, rng)
        assert unk not in tokenizer(example.prompt + " " + example.completion, add_special_tokens=False).input_ids
    for task in TASKS.values():
        for template in task.templates():
            # Fill every field ({vector}, {layer}, {text}, ...) with a word the vocabulary has.
            fields = {name for _, name, _, _ in Formatter().parse(template) if name}
            text = template.format(**{name: "Peru" for name in fields})
            ids = tokenizer(text, add_special_tokens=False).input_ids
            assert unk not in ids, (task.name, template)
    assert set(EXAMPLE_MIXTURE) == {"fact", "choice", "hint"}


def test_tokenizer_has_chat_template_and_placeholder_tokens():
    tokenizer = build_toy_tokenizer(ToyWorld.generate(0))
    rendered = tokenizer.apply_chat_template([{"role": "user", "content": "Where does Zorvak live?"}], tokenize=False, add_generation_prompt=True)
    assert rendered.startswith("<bos><|user|>") and rendered.endswith("<|assistant|>")
    ids = tokenizer("<|vec_begin|><|vec|><|vec_end|>", add_special_tokens=False).input_ids
    assert tokenizer.convert_ids_to_tokens(ids) == ["<|vec_begin|>", "<|vec|>", "<|vec_end|>"]


def test_concept_labels():
    world = ToyWorld.generate(0)
    tokens = [world.entities[0], "lives", "in", "Peru", "(", "(B)", "7", "professor"]
    assert concept_labels(tokens, world) == [
        ["entity"], [], [], ["country"], ["punctuation"], ["option_letter"], ["digit"], ["hint_giver_followed"]
    ]
