"""User context: product and plan narrow and boost retrieval; locale prefers a language."""

from pathlib import Path

import pytest

from kb.config import load_settings
from kb.errors import InvalidInput
from kb.models import UserContext
from kb.usecases.bootstrap import Services, build
from kb.usecases.validation import user_context
from web import create_app

ARTICLES = {
    "hub-reset.md": "---\ntitle: Reset the hub\nproduct: hub\n---\n"
    "Hold the reset button on the back of the hub for ten seconds until the light blinks.",
    "camera-reset.md": "---\ntitle: Reset the camera\nproduct: camera\n---\n"
    "Hold the reset button on the base of the camera for ten seconds until it chimes.",
    "reset-general.md": "---\ntitle: Resetting devices\n---\n"
    "Every device has a reset button; resetting removes it from your home.",
    "plus-backup.md": "---\ntitle: Cloud backup\nplan: plus, pro\n---\n"
    "Plus and Pro plans keep thirty days of cloud backup of your device settings.",
    "reset-fr.md": "---\ntitle: Réinitialiser le hub\nlang: fr\nproduct: hub\n---\n"
    "Maintenez le bouton de réinitialisation du hub pendant dix secondes.",
}


@pytest.fixture(scope="module")
def home(tmp_path_factory, embedder) -> Path:
    folder = tmp_path_factory.mktemp("labelled")
    for name, text in ARTICLES.items():
        (folder / name).write_text(text)
    home = tmp_path_factory.mktemp("context-home")
    build(load_settings({"home": home}), embedder=embedder).ingestion.ingest([str(folder)])
    return home


@pytest.fixture
def kb(home, embedder) -> Services:
    return build(load_settings({"home": home}), embedder=embedder)


def ids(hits) -> list[str]:
    return [h.passage.doc_id for h in hits]


def test_front_matter_labels_become_metadata(kb):
    assert kb.documents.document("hub-reset").meta["product"] == "hub"
    assert kb.documents.document("plus-backup").meta["plan"] == ["plus", "pro"]
    assert kb.documents.document("reset-fr").lang == "fr"


def test_a_product_leaves_out_other_products_but_keeps_general_articles(kb):
    hub = ids(
        kb.retrieval.search(
            "how do I reset it", 10, context=UserContext(labels=(("product", "hub"),))
        )
    )
    assert "camera-reset" not in hub and "reset-general" in hub
    assert hub[0] == "hub-reset"
    camera = ids(kb.retrieval.search("how do I reset it", 10,
                           context=UserContext(labels=(("product", "camera"),))))  # fmt: skip
    assert camera[0] == "camera-reset" and "hub-reset" not in camera


def test_a_list_label_matches_any_of_its_values(kb):
    basic = ids(
        kb.retrieval.search("cloud backup", 10, context=UserContext(labels=(("plan", "basic"),)))
    )
    pro = ids(
        kb.retrieval.search("cloud backup", 10, context=UserContext(labels=(("plan", "pro"),)))
    )
    assert "plus-backup" not in basic and pro[0] == "plus-backup"


def test_the_locale_ranks_the_users_language_first_without_hiding_others(kb):
    french = ids(kb.retrieval.search("reset the hub", 10, context=UserContext(locale="fr-CA")))
    plain = ids(kb.retrieval.search("reset the hub", 10))
    assert french.index("reset-fr") < plain.index("reset-fr")
    assert "hub-reset" in french


def test_answers_follow_the_context(kb):
    answer = kb.answering.answer(
        "How do I reset it?", context=UserContext(labels=(("product", "camera"),))
    )
    cited = {c.doc_id for c in answer.citations}
    assert not answer.refused and "hub-reset" not in cited
    assert answer.related[0].passage.doc_id == "camera-reset", answer.text


def test_the_api_takes_context_on_answer_and_search(home):
    client = create_app({"home": home}).test_client()
    body = client.post("/answer", json={"question": "How do I reset it?",
                                        "context": {"product": "camera"}}).json  # fmt: skip
    assert "hub-reset" not in {c["doc_id"] for c in body["citations"]}
    hits = client.get("/search?q=reset&context.product=hub").json["hits"]
    assert "camera-reset" not in [h["doc_id"] for h in hits]


@pytest.mark.parametrize(
    "raw, message",
    [
        ("hub", "context must be an object"),
        ({"colour": "red"}, "context field 'colour' is not one of: product, plan, locale"),
        ({"product": 3}, "context product must be a string"),
        ({"locale": "not a locale!"}, "is not a tag like fr-CA"),
    ],
)
def test_bad_context_is_a_clear_error(raw, message):
    with pytest.raises(InvalidInput, match=message):
        user_context(raw, ("product", "plan"))


def test_bad_context_over_the_api_is_a_400(home):
    client = create_app({"home": home}).test_client()
    response = client.post("/answer", json={"question": "reset", "context": {"colour": "red"}})
    assert response.status_code == 400 and "colour" in response.json["error"]
    response = client.get("/search?q=reset&context.colour=red")
    assert response.status_code == 400 and "colour" in response.json["error"]
