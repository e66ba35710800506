"""What only one front-end says, in Brazilian Portuguese: help intros, how each one takes a photo, Discord's
slash descriptions, the terminal's prompts. The conversation's own words are in ``bot/texts.py``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.commands import Command

HELP_INTRO = {
    "telegram": (
        "Oi! Eu sou um bot que diz se uma foto é de 🐱 gato ou de 🐶 cachorro (ou de nenhum dos dois), e explico "
        "como a minha rede neural decidiu.\n\n"
        "Mande uma foto (ou várias) e eu respondo cada uma. Os comandos que aceitam foto valem respondendo a ela."
    ),
    "discord": (
        "Oi! Eu sou um bot que diz se uma foto é de 🐱 gato ou de 🐶 cachorro (ou de nenhum dos dois), e explico "
        "como a minha rede neural decidiu.\n\n"
        "Mande a foto (ou várias) me mencionando; em mensagem direta é só mandar. Os comandos que aceitam foto "
        "têm a opção imagem."
    ),
    "terminal": (
        "Chat local do 'gato ou cachorro?' (sem internet). Digite o caminho de uma foto (ou arraste o arquivo para "
        "cá) e eu digo se é gato ou cachorro. Os comandos que aceitam foto recebem o caminho depois do nome; os "
        "botões aparecem como comandos (/b1, /b2...). /sair termina."
    ),
}

PHOTO_USAGE = {  # how a command takes its photo on each front-end
    "telegram": "respondendo a uma foto",
    "discord": "imagem:",
    "terminal": "CAMINHO",
}


def usage(front_end: str, command: Command) -> str:
    """'/explicar (respondendo a uma foto)', '/adicionar imagem: gato|cachorro', '/explicar [CAMINHO]'."""
    from bot.commands import PhotoUse

    parts = [f"/{command.name}"]
    if command.photo is not PhotoUse.NONE:
        photo = PHOTO_USAGE[front_end]
        parts.append(f"[{photo}]" if command.photo is PhotoUse.OPTIONAL else photo)
    if command.choices:
        words = "|".join(command.choices)
        parts.append(words if command.argument_required else f"[{words}]")
    if front_end == "telegram" and command.photo is not PhotoUse.NONE:
        photo_part = parts.pop(1)
        return " ".join(parts) + f" ({photo_part.strip('[]')})"
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
TERMINAL_UNKNOWN_BUTTON = "Esse botão não existe (ou já passou). Use um dos /b que aparecem embaixo das mensagens."


def terminal_picture_saved(path: str) -> str:
    return f"🖼️ Figura salva em: {path}"


def terminal_buttons(labels: list[tuple[str, str]]) -> str:
    """The buttons of a message as commands: '[/b3 ✅ acertou]  [/b4 ❌ errou]'."""
    return "  ".join(f"[{command} {label}]" for command, label in labels)
