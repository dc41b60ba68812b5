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


# -- the web's pages --------------------------------------------------------------------------

_LOG_CALLS = {"debug", "info", "warning", "error", "exception", "critical", "log"}
# A sentence people read: a capital, then at least three more words, or any text ending like one.
_SENTENCE = re.compile(r"[A-Z][a-z']*(?:[,:;]?\s+[A-Za-z(){}'-]+){3,}.*|[A-Z][A-Za-z ,:;'()-]*\s[A-Za-z ,:;'()-]*[a-z][.!?]",
                       re.S)


def _plain_sentences(path: Path, owner_only: frozenset[str] = frozenset()) -> list[str]:
    """String constants in `path` that read like sentences and skip the catalogs: not marked, not
    a docstring, not a log line nor an exception (those are for operators, in English), nor in
    the functions named in `owner_only` (texts only the owner reads may stay English)."""
    tree = ast.parse(path.read_text())
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name in owner_only:
            skipped.update(id(inner) for inner in ast.walk(node))
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in KEYWORDS or name in _LOG_CALLS:
                skipped.update(id(inner) for inner in ast.walk(node))
        if isinstance(node, ast.Raise):
            skipped.update(id(inner) for inner in ast.walk(node))
        if (isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body
                and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)):
            skipped.add(id(node.body[0].value))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):   # an f-string reads as its text with {} for its values
            skipped.update(id(inner) for inner in ast.walk(node) if inner is not node)
            text = "".join(part.value if isinstance(part, ast.Constant) else "{}" for part in node.values)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        else:
            continue
        if id(node) not in skipped and _SENTENCE.fullmatch(text.strip()):
            found.append(f"{path.relative_to(REPO)}:{node.lineno}: {text!r}")
    return found


def _unmarked_page_texts(path: Path) -> list[str]:
    """`message_page(request, status, title, words)` calls whose title or words are written out
    (a string, an f-string, a sum) instead of coming from _() / ngettext() or a name holding one."""
    wrong = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "message_page":
            for argument in node.args[2:4]:
                if any(isinstance(inner, (ast.Constant, ast.JoinedStr)) and isinstance(getattr(inner, "value", ""), str)
                       and not _inside_mark(argument, inner) for inner in ast.walk(argument)):
                    wrong.append(f"{path.relative_to(REPO)}:{node.lineno}: {ast.unparse(argument)[:80]}")
    return wrong


def _inside_mark(argument: ast.AST, target: ast.AST) -> bool:
    for node in ast.walk(argument):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in KEYWORDS:
            if any(inner is target for inner in ast.walk(node)):
                return True
    return False


def test_the_web_writes_no_page_text_outside_the_catalogs():
    """Every title and sentence of an error page or a player note in web/ is marked, so a
    browser asking for Hindi does not get an English page."""
    found = []
    for path in sorted((REPO / "FileStream" / "web").rglob("*.py")):
        found += _unmarked_page_texts(path) + _plain_sentences(path)
    assert not found, "mark these with _() / ngettext() (then `make messages`):\n" + "\n".join(found)


# Attributes a browser shows or reads aloud.
_SHOWN_ATTRIBUTES = re.compile(r'\b(?:title|alt|aria-label|placeholder|data-[a-z]+)="([^"]*)"')


def test_the_templates_write_no_words_outside_the_catalogs():
    """Text between tags and shown attributes in templates come from {{ _("...") }} (or values
    the code translated); the name FileStream is the only word written out."""
    found = []
    for path in sorted((REPO / "FileStream" / "web" / "templates").glob("*.html")):
        source = re.sub(r"{#.*?#}", "", path.read_text(), flags=re.S)
        for value in _SHOWN_ATTRIBUTES.findall(source):
            if re.search(r"[A-Za-z]{2,}", re.sub(r"{{.*?}}|{%.*?%}", "", value)):
                found.append(f"{path.name}: attribute {value!r}")
        text = re.sub(r"{{.*?}}|{%.*?%}", " ", source, flags=re.S)
        text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.S)
        text = re.sub(r"<[^>]*>", "\n", text, flags=re.S)
        for line in text.splitlines():
            words = re.sub(r"FileStream|&[a-z]+;", "", line).strip()
            if re.search(r"[A-Za-z]{2,}", words):
                found.append(f"{path.name}: {words!r}")
    assert not found, 'write these as {{ _("...") }}:\n' + "\n".join(found)


def test_the_core_texts_people_read_are_marked():
    """core/ cannot translate (it imports nothing of ours), so the reasons it gives people are
    English texts marked with its own N_(), translated where the web shows them."""
    core = REPO / "FileStream" / "core"
    found = (_plain_sentences(core / "media_probe.py")
             # The notice of a lost storage channel goes to the owner only.
             + _plain_sentences(core / "storage_channels.py", owner_only=frozenset({"channel_lost_words"})))
    # A probe's error completes a sentence ("... cannot be played in the browser: {error}."), so
    # it starts in lower case: any written-out error= is caught here.
    for path in (core / "media_probe.py", REPO / "FileStream" / "services" / "remux.py"):
        found += [f"{path.relative_to(REPO)}:{node.lineno}: error={ast.unparse(node.value)}"
                  for node in ast.walk(ast.parse(path.read_text()))
                  if isinstance(node, ast.keyword) and node.arg in ("error", "why")
                  and isinstance(node.value, (ast.Constant, ast.JoinedStr))]
    assert not found, "mark these with N_() and translate them where they are shown:\n" + "\n".join(found)
