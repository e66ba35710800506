"""What the bot says in a conversation, in Brazilian Portuguese, in one place to review.

The answer to a photo and the /explicar thread are the core's words (``petnet.texts``, ``petnet.thread``);
what only one front-end says (its help intro, slash descriptions, terminal prompts) is in
``bot/frontends/texts.py``; the trainer's report is in ``trainer/texts.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.channel import FetchFailure, FetchProblem
from petnet.explain import training_facts
from petnet.images import ImageProblem
from petnet.texts import (
    LABEL_EMOJI,
    LABEL_WORDS,
    confidence_pct,
    describe_architecture,
    image_problem,
    integer,
    num,
    pct,
)

if TYPE_CHECKING:
    from bot.commands import Command
    from bot.retrain import RetrainResult
    from bot.service import Decided, ModelSummary, Refusal

# --- the command line (python -m bot classificar) --------------------------------------------------


def cli_verdict(file: str, label: str, confidence: float) -> str:
    return f"{file}: {LABEL_WORDS.get(label, label)} ({confidence_pct(confidence)} de confiança)"


def cli_file_error(file: str, reason: str) -> str:
    return f"{file}: erro: {reason}"


CLI_NO_MODEL = "Nenhum modelo utilizável foi encontrado. Treine um com: python -m trainer PASTA_DE_FOTOS"


# --- photos and their problems -------------------------------------------------------------------

NOT_A_PHOTO = "Eu só entendo fotos 🙂 Me manda uma foto de um gato ou de um cachorro!"
UNKNOWN_COMMAND = "Não conheço esse comando. Veja o que eu sei fazer em /ajuda."
NOTHING_TO_EXPLAIN = "Ainda não classifiquei nenhuma foto aqui. Mande uma foto e depois use /explicar!"
EXPLAIN_PHOTO_GONE = "Não consegui recuperar aquela foto. Pode mandá-la de novo?"
DOWNLOAD_FAILED = "Não consegui baixar a sua foto agora (a rede demorou). Pode mandar de novo?"
BUSY = "Estou com muitas fotos na fila agora. Tenta de novo em alguns segundos?"
TRY_AGAIN = "Não consegui guardar isso agora (meu arquivo estava ocupado). Nada se perdeu: tenta de novo daqui a pouco?"
DATA_FOLDER = "Minha pasta de fotos está mal configurada, então não guardei nada. Já avisei quem cuida de mim."
INTERNAL_ERROR = "Ops, algo deu errado do meu lado. Já avisei quem cuida de mim; tenta de novo daqui a pouco?"
FLOODING = (
    "Calma, uma de cada vez! 😅 Chegaram muitas mensagens suas de uma vez e eu deixei as últimas de lado "
    "para não fazer os outros esperarem. Mande de novo daqui a pouco."
)
NO_EXPERIMENT = (
    'Para esta foto não dá para fazer o "E se...?": ele precisa de uma foto que eu respondi como gato ou cachorro '
    "e de um modelo que guarda a sua foto média (os treinados antes disso não guardam)."
)


def file_too_big(size_bytes: int, limit_bytes: int) -> str:
    """``size_bytes`` 0: the size is unknown (the download was cut at the limit)."""
    size = f"tem {num(size_bytes / 1e6, 1)} MB e" if size_bytes else "passa do limite:"
    return f"Essa imagem {size} eu só consigo baixar até {num(limit_bytes / 1e6, 0)} MB. Pode mandar uma versão menor?"


def fetch_failed(failure: FetchFailure) -> str:
    if failure.problem is FetchProblem.TOO_BIG:
        return file_too_big(failure.size, failure.limit)
    if failure.problem is FetchProblem.NETWORK:
        return DOWNLOAD_FAILED
    return EXPLAIN_PHOTO_GONE


def explain_fetch_failed(failure: FetchFailure) -> str:
    """A photo asked for again (by /explicar or a button) could not be fetched."""
    return file_too_big(failure.size, failure.limit) if failure.problem is FetchProblem.TOO_BIG else EXPLAIN_PHOTO_GONE


# --- feedback and corrections ------------------------------------------------------------------------

BUTTON_RIGHT = "✅ acertou"
BUTTON_WRONG = "❌ errou"
BUTTON_APPROVE = "✅ aprovar"
BUTTON_REJECT = "❌ rejeitar"
CORRECTION_CHOICES = {label: f"{LABEL_EMOJI[label]} {words}" for label, words in LABEL_WORDS.items()}
THANKS_RIGHT = "Valeu! 😊"
ALREADY_JUDGED = "Você já avaliou esta resposta. Obrigado!"
STALE_BUTTON = "Esse botão não vale mais (ou não é para você). Mande a foto de novo?"
ASK_WHICH = "Poxa! O que tinha na foto, então?"
TOO_MANY_CORRECTIONS = "Você já mandou muitas correções na última hora. Tenta de novo mais tarde? 🙏"
CORRECTION_SAME_AS_ANSWER = "Essa foi a minha resposta 🙂 Se eu errei, escolha a resposta certa."
NOTHING_TO_REVIEW = "Nenhuma correção esperando revisão. 🎉"


def correction_stored(label: str) -> str:
    return (
        f"Anotado: {LABEL_WORDS.get(label, label)}. Obrigado! Quem cuida de mim vai revisar, "
        "e se aprovar, a foto entra no próximo treino. 🧑‍🏫 Quer ver o que me enganou? /explicar"
    )


def review_caption(correction_id: int, predicted: str, label: str, pending: int) -> str:
    return (
        f"Correção nº {correction_id} ({integer(pending)} na fila): eu disse "
        f'"{LABEL_WORDS.get(predicted, predicted)}", a pessoa diz "{LABEL_WORDS.get(label, label)}".'
    )


def decided(result: Decided) -> str:
    if result.approved:
        words = LABEL_WORDS.get(result.label, result.label)
        return f"✅ Correção nº {result.correction_id} aprovada: a foto entrou nos dados de treino como {words}."
    return f"🗑️ Correção nº {result.correction_id} rejeitada: a foto foi descartada."


def correction_already_decided(correction_id: int) -> str:
    return f"A correção nº {correction_id} já foi revisada."


# --- administration ------------------------------------------------------------------------------------

NOT_ADMIN = "Desculpe, esse comando é só para quem administra o bot. 🙂"
RETRAIN_RUNNING = "Já tem um treino em andamento. Eu aviso quando terminar!"
RETRAIN_STARTED = "🏋️ Treino começando…"
RETRAIN_FORCE_HINT = "Para usar o novo mesmo assim: /retreinar forcar"
NOTHING_TO_REVERT = "Não há um modelo anterior para voltar."
ADD_LABEL = "Diga o que a foto é: /adicionar gato ou /adicionar cachorro."
RETRAIN_STAGE_NAMES = {
    "start": "preparando",
    "scan": "verificando fotos",
    "features": "extraindo características",
    "fit": "treinando a MLP",
    "validate": "validando",
    "compare": "comparando com o modelo atual",
}


def retrain_progress(stage: str, done: int, total: int) -> str:
    name = RETRAIN_STAGE_NAMES.get(stage, stage)
    if total:
        return f"🏋️ Treinando… {name}: {integer(done)}/{integer(total)}"
    return f"🏋️ Treinando… {name}"


def retrain_result(result: RetrainResult | Refusal) -> str:
    from bot.retrain import Retrained, RetrainFailed

    if isinstance(result, RetrainFailed):
        return retrain_failed(result.reason)
    if isinstance(result, Retrained):
        return result.message + ("\nSe quiser voltar, use /reverter." if result.promoted else "")
    return refusal(result)


def retrain_failed(reason: str) -> str:
    return f"❌ O treino falhou e o modelo em serviço continua o mesmo.\nMotivo: {reason}"


RETRAIN_NO_DATA = (
    "a pasta de dados precisa de uma subpasta gatos/ e uma cachorros/ (ou train/ e val/ com elas dentro), "
    "com pelo menos 5 fotos de cada; veja o README"
)
RETRAIN_UNEXPECTED = "o treino encontrou um erro inesperado (os detalhes estão no log do bot)"


RETRAIN_START_FAILED = "não consegui iniciar o processo de treino (os detalhes estão no log do bot)"
RETRAIN_PROMOTE_FAILED = "o novo modelo foi treinado, mas não consegui colocá-lo em serviço (detalhes no log do bot)"


def retrain_crashed(exit_code: object) -> str:
    return f"o processo de treino terminou inesperadamente (código {exit_code})"


def reverted(version: str) -> str:
    return f"↩️ Voltei para o modelo {version}."


def photo_added(label: str, total: int) -> str:
    photos = "1 foto" if total == 1 else f"{integer(total)} fotos"
    return f"📥 Foto guardada como {label}. Agora a pasta de {label}s tem {photos}. Use /retreinar quando quiser."


FALLBACK_NOTES = {
    "previous": "⚠️ O modelo em uso não pôde ser carregado; estou usando o anterior, {version}.",
    "packaged": "⚠️ Os modelos escolhidos não puderam ser carregados; estou usando o modelo padrão, {version}.",
}


def model_summary(summary: ModelSummary) -> str:
    """/modelo: what the model learned from, how well it does, and the review queue."""
    card = summary.model.card
    lines = [
        f"🧠 Modelo em uso: {card.version}",
        f"Aprendi com {integer(card.train_counts.gato)} fotos de gatos e {integer(card.train_counts.cachorro)} de "
        f"cachorros ({integer(card.epochs)} épocas).",
        f"Rede: EfficientNet-Lite0 pré-treinada + MLP com {describe_architecture(card.hidden_layers, card.activation)}.",
        f"Acurácia em {integer(card.val.n)} fotos de validação (as que escolheram e calibraram o modelo): "
        f"{pct(card.val.accuracy, 1)} (gatos {pct(card.val.accuracy_gato, 1)}, cachorros "
        f"{pct(card.val.accuracy_cachorro, 1)}).",
    ]
    held_out = training_facts(card).held_out
    if held_out is not None:
        photos, right = held_out
        lines.append(
            f"Na prova, {integer(photos)} fotos que não usei para nada disso (gatos, cachorros e outras coisas): "
            f"{pct(right / photos, 1)} de respostas certas."
        )
    lines.append(f"Treinado em {card.created_at[:10]}.")
    if summary.pending_corrections is not None:
        lines.append(f"Correções esperando revisão: {integer(summary.pending_corrections)}.")
    if summary.fallback_note is not None:
        lines.append(FALLBACK_NOTES.get(summary.fallback_note, FALLBACK_NOTES["packaged"]).format(version=card.version))
    return "\n".join(lines)


# --- refusals -------------------------------------------------------------------------------------------


def refusal(result: Refusal) -> str:
    from bot.service import Reason

    if result.reason is Reason.UNREADABLE:
        return image_problem(result.problem or ImageProblem.CORRUPT)
    if result.reason is Reason.ALREADY_DECIDED:
        return correction_already_decided(result.subject)
    return {
        Reason.BUSY: BUSY,
        Reason.TRY_AGAIN: TRY_AGAIN,
        Reason.STALE_BUTTON: STALE_BUTTON,
        Reason.ALREADY_JUDGED: ALREADY_JUDGED,
        Reason.SAME_AS_ANSWER: CORRECTION_SAME_AS_ANSWER,
        Reason.TOO_MANY_CORRECTIONS: TOO_MANY_CORRECTIONS,
        Reason.NOTHING_TO_REVIEW: NOTHING_TO_REVIEW,
        Reason.RETRAIN_RUNNING: RETRAIN_RUNNING,
        Reason.NOTHING_TO_REVERT: NOTHING_TO_REVERT,
        Reason.ADD_USAGE: ADD_LABEL,
        Reason.DATA_FOLDER: DATA_FOLDER,
        Reason.NO_EXPERIMENT: NO_EXPERIMENT,
    }[result.reason]


# --- help ----------------------------------------------------------------------------------------------

COMMAND_HELP = {
    "ajuda": "esta mensagem",
    "classificar": "diz se a foto é de gato, de cachorro ou de nenhum dos dois",
    "explicar": "mostra, passo a passo e com os números de verdade, como a minha rede decidiu",
    "modelo": "o que eu aprendi, com quantas fotos e qual a minha acurácia",
    "retreinar": "treina de novo com a pasta de dados (forcar: usa o novo mesmo se não for melhor; "
    "do_zero: esquece as fotos que eu já conhecia)",
    "reverter": "volta para o modelo anterior",
    "adicionar": "guarda a foto nos dados de treino como gato ou cachorro",
    "revisar": "revisa as correções que as pessoas mandaram",
}
ADMIN_HEADER = "Comandos de administração:"


def usage_reply(front_end: str, command: str) -> str:
    """A command given without what it needs: how to type it on this front-end (a path, an option, a reply)."""
    from bot.commands import BY_NAME
    from bot.frontends.texts import usage

    return f"Use assim: {usage(front_end, BY_NAME[command])}"


def help_text(front_end: str, is_admin: bool, commands: Sequence[Command]) -> str:
    """The help of one front-end: its own intro, then exactly the commands it answers (admin ones for admins)."""
    from bot.frontends.texts import help_intro, usage

    def lines(admin: bool) -> list[str]:
        return [f"• {usage(front_end, c)}: {c.help}" for c in commands if c.admin == admin]

    parts = [help_intro(front_end), "\n".join(lines(False))]
    if is_admin:
        parts.append(ADMIN_HEADER + "\n" + "\n".join(lines(True)))
    return "\n\n".join(parts)


# --- starting the bot ---------------------------------------------------------------------------------


def token_missing(name: str) -> str:
    return f"{name} não está configurado (veja o README)."


def token_refused(name: str) -> str:
    return f"O {name} foi recusado pela plataforma (token inválido ou revogado). Confira o token e tente de novo."


def settings_invalid(detail: str) -> str:
    return f"Configuração inválida: {detail} (veja o README)."


def state_unusable(path: str, detail: str) -> str:
    return (
        f"Não consegui abrir o arquivo de estado {path} ({detail}). Nada foi apagado. "
        "Se outro bot estiver usando esse arquivo, pare-o; se estiver corrompido, guarde uma cópia e "
        "aponte GATO_STATE para um arquivo novo."
    )
