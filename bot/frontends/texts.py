"""What only one front-end says, in Brazilian Portuguese: help intros, how each one takes a photo, Discord's
slash descriptions, the terminal's prompts. The conversation's own words are in ``bot/texts.py``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.commands import Command

HELLO = (
    "Oi! Eu sou um bot que diz se uma foto é de 🐱 gato ou de 🐶 cachorro (ou de nenhum dos dois), e explico "
    "como a minha rede neural decidiu."
)
HELP_INTRO = {
    "telegram": f"{HELLO}\n\nMande uma foto (ou várias) e eu respondo cada uma. Os comandos que aceitam foto "
    "valem respondendo a ela.",
    "discord": f"{HELLO}\n\nMande a foto (ou várias) me mencionando; em mensagem direta é só mandar. Os comandos "
    "que aceitam foto têm a opção imagem.",
    "terminal": (
        "Chat local do 'gato ou cachorro?' (sem internet). Digite o caminho de uma foto (ou arraste o arquivo para "
        "cá) e eu digo se é gato ou cachorro. Os comandos que aceitam foto recebem o caminho depois do nome; os "
        "botões aparecem como comandos (/b1, /b2...), e há atalhos para eles: /acertou, /errou gato|cachorro, "
        "/aprovar N, /rejeitar N. /sair (ou /exit, /quit) termina."
    ),
}
HELP_INTRO_ANY = f"{HELLO}\n\nMande uma foto e eu respondo."  # a front-end without its own words yet


def help_intro(front_end: str) -> str:
    return HELP_INTRO.get(front_end, HELP_INTRO_ANY)


# --- python -m bot --------------------------------------------------------------------------------------

CLI_HELP = {
    "bot": "Bot 'gato ou cachorro?'.",
    "bot.classificar": "classifica fotos do disco",
    "bot.json": "uma linha JSON por foto",
    "bot.local": "chat local no terminal (sem internet)",
    "bot.both": "todos os bots de chat juntos, com um só modelo (precisa de todos os tokens)",
}


def cli_help(front_end: str, token_name: str) -> str:
    """``python -m bot --help``'s line for a chat front-end."""
    return f"bot do {front_end.capitalize()} (precisa de {token_name})"


def usage(front_end: str, command: Command) -> str:
    """How to type a command on a front-end: '/explicar (respondendo a uma foto, ou sozinho)',
    '/adicionar imagem: opcao: gato|cachorro', '/adicionar gato|cachorro CAMINHO'."""
    from bot.commands import PhotoUse

    words = "|".join(command.choices)
    if front_end == "discord":
        words = f"opcao: {words}" if words else ""
        photo = "imagem:" if command.photo is not PhotoUse.NONE else ""
    elif front_end == "terminal":
        photo = "CAMINHO" if command.photo is not PhotoUse.NONE else ""
    else:  # Telegram: a photo is given by replying to it
        photo = ""
    optional_photo, optional_words = command.photo is PhotoUse.OPTIONAL, not command.argument_required
    parts = [f"/{command.name}"]
    if words:
        parts.append(f"[{words}]" if optional_words else words)
    if photo:
        parts.append(f"[{photo}]" if optional_photo else photo)
    if front_end == "telegram" and command.photo is PhotoUse.REQUIRED:
        parts.append("(respondendo a uma foto)")
    elif front_end == "telegram" and optional_photo:
        parts.append("(respondendo a uma foto, ou sozinho para a última)")
    if command.aliases and front_end != "discord":  # slash menus list names only; typed commands take the aliases
        parts.append("(ou " + ", ".join(f"/{alias}" for alias in command.aliases) + ")")
    return " ".join(parts)


# --- Discord ----------------------------------------------------------------------------------------

SLASH_DESCRIPTIONS = {  # at most 100 characters each
    "ajuda": "O que eu sei fazer",
    "classificar": "Diz se a foto é de gato, de cachorro ou de nenhum dos dois",
    "explicar": "Mostra, passo a passo, como a rede neural decidiu",
    "modelo": "O que eu aprendi, com quantas fotos e qual a minha acurácia",
    "retreinar": "(admin) Treina o modelo de novo com a pasta de dados",
    "reverter": "(admin) Volta para o modelo anterior",
    "adicionar": "(admin) Guarda a foto nos dados de treino",
    "revisar": "(admin) Revisa as correções que as pessoas mandaram",
}
OPTION_IMAGE = "A foto (sem ela, uso a última foto deste canal, quando dá)"
OPTION_CHOICE = {
    "retreinar": "forcar: usa o novo mesmo se não for melhor; do_zero: esquece as fotos que eu já conhecia",
    "adicionar": "gato ou cachorro",
}

# --- the terminal -------------------------------------------------------------------------------------

TERMINAL_PROMPT = "você> "
TERMINAL_BYE = "Até mais! 👋"
TERMINAL_FILE_PROBLEM = "{problem} Digite o caminho de uma foto, ou /ajuda."
TERMINAL_NOT_A_PATH = (
    "Eu só entendo fotos 🙂 Digite o caminho de uma foto de gato ou de cachorro (ou arraste o arquivo para cá), "
    "ou /ajuda."
)
TERMINAL_UNKNOWN_BUTTON = "Esse botão não existe (ou já passou). Use um dos /b que aparecem embaixo das mensagens."


def terminal_picture_saved(path: str) -> str:
    return f"🖼️ Figura salva em: {path}"


def terminal_buttons(labels: list[tuple[str, str]]) -> str:
    """The buttons of a message as commands: '[/b3 ✅ acertou]  [/b4 ❌ errou]'."""
    return "  ".join(f"[{command} {label}]" for command, label in labels)
