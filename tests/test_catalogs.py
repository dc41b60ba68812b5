"""The message catalogs: every language has every text the code marks, with the same placeholders
and tags as English, and the bot's texts module holds no text that skips the catalogs.

When one of these fails after you added or changed a text: run `make messages`, then
translate the entries with an empty msgstr in FileStream/locales/*/LC_MESSAGES/messages.po
(or leave them for the lead, who translates late additions at merge).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from FileStream.i18n import DEFAULT, LANGUAGES, LOCALES_DIR, Catalogs

REPO = Path(__file__).resolve().parent.parent
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}
TRANSLATED = [code for code in LANGUAGES if code != DEFAULT]
# What must survive translation unchanged: {name} and %(name)s placeholders, HTML tags, commands.
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}|%\([a-z_]+\)[sd]")
_TAG = re.compile(r"</?[a-z]+>")
_COMMAND = re.compile(r"(?<![\w/])/[a-z]+\b")


def marked_texts() -> dict[str, tuple[str, ...]]:
    """Every text marked in the code and templates (as babel.cfg says), by msgid."""
    found: dict[str, tuple[str, ...]] = {}
    method_map = [("FileStream/**.py", "python"), ("FileStream/web/templates/**.html", "jinja2")]
    options = {"FileStream/web/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
            str(REPO), method_map, options, keywords=KEYWORDS):
        forms = message if isinstance(message, tuple) else (message,)
        found[forms[0]] = forms
    return found


def catalog(code: str):
    with (LOCALES_DIR / code / "LC_MESSAGES" / "messages.po").open("rb") as source:
        return read_po(source, locale=code)


def shape(text: str) -> tuple[list[str], list[str], list[str]]:
    return sorted(_PLACEHOLDER.findall(text)), sorted(_TAG.findall(text)), sorted(_COMMAND.findall(text))


@pytest.fixture(scope="module")
def texts():
    return marked_texts()


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_language_has_every_marked_text_translated(code, texts):
    entries = {m.id if isinstance(m.id, str) else m.id[0]: m for m in catalog(code) if m.id}
    missing = [msgid for msgid in texts if msgid not in entries]
    untranslated = [msgid for msgid in texts if msgid in entries
                    and not all(entries[msgid].string if isinstance(entries[msgid].string, tuple)
                                else [entries[msgid].string])]
    fuzzy = [msgid for msgid in texts if msgid in entries and entries[msgid].fuzzy]
    assert not missing, f"{code}: not in the catalog (run `make messages`, then translate): {missing}"
    assert not untranslated, f"{code}: not translated yet: {untranslated}"
    assert not fuzzy, f"{code}: marked fuzzy (check the translation, then drop the flag): {fuzzy}"


@pytest.mark.parametrize("code", TRANSLATED)
def test_translations_keep_the_placeholders_tags_and_commands_of_english(code, texts):
    wrong = []
    for message in catalog(code):
        if not message.id or not message.string:
            continue
        english = message.id if isinstance(message.id, tuple) else (message.id,)
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        placeholders, tags, commands = shape(english[-1])
        for form in forms:
            got = shape(form)
            # Plural forms may leave the number out ("one file" instead of "1 file").
            if got[0] != placeholders and not (len(english) > 1 and set(got[0]) < set(placeholders)):
                wrong.append((english[0], "placeholders", got[0], placeholders))
            if got[1] != tags:
                wrong.append((english[0], "tags", got[1], tags))
            if got[2] != commands:
                wrong.append((english[0], "commands", got[2], commands))
    assert not wrong, f"{code}: " + "\n".join(map(repr, wrong))


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_catalog_compiles_with_the_plural_forms_of_its_language(code):
    language = Catalogs.load().get(code)
    assert language.code == code
    counts = (0, 1, 2, 5, 11, 21, 22, 25, 101)
    # As many plural forms in use as the language has categories for these numbers (CLDR).
    used = {language.translations.plural(n) for n in counts}
    assert len(used) == len({language.locale.plural_form(n) for n in counts})
    assert all("{count}" in language.translations.ngettext("{count} day", "{count} days", n) for n in counts)


def test_the_bot_texts_module_writes_no_words_outside_the_catalogs():
    """A plain string with words in bot/texts.py would reach people in English only."""
    path = REPO / "FileStream" / "bot" / "texts.py"
    tree = ast.parse(path.read_text())
    marked: set[int] = set()
    docstrings: set[int] = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and getattr(node.func, "id", None) in KEYWORDS) or isinstance(node, ast.Raise):
            marked.update(id(arg) for arg in ast.walk(node))   # marked, or an error for the log
        if isinstance(node, (ast.Module, ast.FunctionDef)) and node.body and isinstance(node.body[0], ast.Expr):
            docstrings.add(id(node.body[0].value))
    plain = [
        f"line {node.lineno}: {node.value!r}" for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in marked | docstrings
        # Words, not keys (processing, BANNED) nor the name FileStream between tags.
        and re.search(r"[A-Za-z]{3,}", re.sub(r"<[^>]*>|FileStream", "", node.value))
        and not re.fullmatch(r"[A-Za-z_]+", node.value)
    ]
    assert not plain, ("bot/texts.py has text outside _() / N_() / ngettext(); mark it (a fixed text goes "
                       "in MESSAGES with N_()):\n" + "\n".join(plain))


def test_the_bot_texts_module_keeps_its_fixed_texts_in_messages():
    """`NAME = N_("...")` at module level would be read as texts.NAME in English for everyone:
    only texts in MESSAGES are translated when read."""
    tree = ast.parse((REPO / "FileStream" / "bot" / "texts.py").read_text())
    fixed = [
        f"line {node.lineno}: {target.id}" for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
        for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
        if isinstance(target, ast.Name) and target.id.isupper() and target.id != "MESSAGES"
        and not isinstance(node.value, ast.Dict)
    ]
    assert not fixed, "put these fixed texts in MESSAGES (texts.NAME then reads them translated):\n" + "\n".join(fixed)
