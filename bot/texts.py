"""What the bot says in a conversation, in Brazilian Portuguese (the core's answer and thread words are in
petnet.texts): commands, buttons, corrections, administration, errors and each front-end's own words."""

from __future__ import annotations

from petnet.texts import LABEL_WORDS, confidence_pct, describe_architecture, integer, num, pct


def cli_verdict(file: str, label: str, confidence: float) -> str:
    return f"{file}: {LABEL_WORDS.get(label, label)} ({confidence_pct(confidence)} de confiança)"


def cli_file_error(file: str, reason: str) -> str:
    return f"{file}: erro: {reason}"


CLI_FILE_NOT_FOUND = "arquivo não encontrado ou sem permissão de leitura"


CLI_NO_MODEL = "Nenhum modelo utilizável foi encontrado. Treine um com: python -m trainer PASTA_DE_FOTOS"


HELP = (
    "Oi! Eu sou um bot que diz se uma foto é de 🐱 gato ou de 🐶 cachorro, e explico como a minha "
    "rede neural decidiu.\n\n"
    "• Mande uma foto (ou várias) e eu respondo cada uma.\n"
    "• /explicar: respondendo a uma foto (ou depois dela), mostro a conta passo a passo.\n"
    "• /modelo: o que eu aprendi, com quantas fotos e qual a minha acurácia.\n"
    "• /ajuda: esta mensagem."
)


ADMIN_HELP = (
    "\n\nComandos de administração:\n"
    "• /retreinar (ou /retreinar forcar): treina de novo com a pasta de dados.\n"
    "• /reverter: volta para o modelo anterior.\n"
    "• /adicionar gato|cachorro: respondendo a uma foto, guarda-a nos dados de treino.\n"
    "• /revisar: revisa as correções que as pessoas mandaram."
)


DISCORD_HELP = (
    "Oi! Eu sou um bot que diz se uma foto é de 🐱 gato ou de 🐶 cachorro (ou de nenhum dos dois), e explico "
    "como a minha rede neural decidiu.\n\n"
    "• /classificar com uma imagem, ou mande a foto (ou várias) me mencionando; em mensagem direta é só mandar.\n"
    "• /explicar: a conta passo a passo da última foto deste canal (ou de uma imagem anexada).\n"
    "• /modelo: o que eu aprendi, com quantas fotos e qual a minha acurácia.\n"
    "• /ajuda: esta mensagem."
)


DISCORD_ADMIN_HELP = (
    "\n\nComandos de administração:\n"
    "• /retreinar (forcar: True para usar o novo modelo mesmo se for pior na validação).\n"
    "• /reverter: volta para o modelo anterior."
)


DISCORD_COMMAND_DESCRIPTIONS = {
    "classificar": "Diz se a foto é de gato, de cachorro ou de nenhum dos dois",
    "explicar": "Mostra, passo a passo, como a rede neural decidiu",
    "modelo": "O que eu aprendi, com quantas fotos e qual a minha acurácia",
    "ajuda": "O que eu sei fazer",
    "retreinar": "(admin) Treina o modelo de novo com a pasta de dados",
    "reverter": "(admin) Volta para o modelo anterior",
}


DISCORD_OPTION_DESCRIPTIONS = {
    "imagem": "A foto de um gato ou de um cachorro",
    "imagem_explicar": "A foto a explicar (sem ela, explico a última foto deste canal)",
    "forcar": "Usa o novo modelo mesmo se ele for pior na validação",
}


NOT_A_PHOTO = "Eu só entendo fotos 🙂 Me manda uma foto de um gato ou de um cachorro!"


UNKNOWN_COMMAND = "Não conheço esse comando. Veja o que eu sei fazer em /ajuda."


NOTHING_TO_EXPLAIN = "Ainda não classifiquei nenhuma foto aqui. Mande uma foto e depois use /explicar!"


EXPLAIN_PHOTO_GONE = "Não consegui recuperar aquela foto para explicar. Pode mandá-la de novo?"


DOWNLOAD_FAILED = "Não consegui baixar a sua foto do Telegram agora (a rede demorou). Pode mandar de novo?"


BUSY = "Estou com muitas fotos na fila agora. Tenta de novo em alguns segundos?"


INTERNAL_ERROR = "Ops, algo deu errado do meu lado. Já avisei quem cuida de mim; tenta de novo daqui a pouco?"


def file_too_big(size_bytes: int, limit_bytes: int, as_photo_hint: bool = True) -> str:
    hint = " (ou como foto comum)" if as_photo_hint else ""
    return (
        f"Essa imagem tem {num(size_bytes / 1e6, 1)} MB e eu só consigo baixar até "
        f"{num(limit_bytes / 1e6, 0)} MB. Pode mandar uma versão menor{hint}?"
    )


def model_summary(card: object, pending_corrections: int | None = None) -> str:
    """/modelo: what the model learned from, how well it does, and the review queue."""
    from petnet.card import ModelCard

    assert isinstance(card, ModelCard)
    lines = [
        f"🧠 Modelo em uso: {card.version}",
        f"Aprendi com {integer(card.train_counts.gato)} fotos de gatos e {integer(card.train_counts.cachorro)} de "
        f"cachorros ({integer(card.epochs)} épocas).",
        f"Rede: EfficientNet-Lite0 pré-treinada + MLP com {describe_architecture(card.hidden_layers, card.activation)}.",
        f"Acurácia em {integer(card.val.n)} fotos de validação: {pct(card.val.accuracy, 1)} "
        f"(gatos {pct(card.val.accuracy_gato, 1)}, cachorros {pct(card.val.accuracy_cachorro, 1)}).",
        f"Treinado em {card.created_at[:10]}.",
    ]
    if pending_corrections is not None:
        lines.append(f"Correções esperando revisão: {integer(pending_corrections)}.")
    return "\n".join(lines)


def model_summary_queue(pending: int) -> str:
    return f"Correções esperando revisão: {integer(pending)}."


def model_fallback_note(version: str) -> str:
    return f"⚠️ O modelo escolhido não pôde ser carregado; estou usando o modelo {version}."


NOT_ADMIN = "Desculpe, esse comando é só para quem administra o bot. 🙂"


RETRAIN_RUNNING = "Já tem um treino em andamento. Eu aviso quando terminar!"


RETRAIN_STARTED = "🏋️ Treino começando…"


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


def retrain_promoted(version: str, old_acc: float | None, new_acc: float, forced: bool) -> str:
    old = pct(old_acc, 2) if old_acc is not None else "—"
    how = " (forçado)" if forced else ""
    return (
        f"✅ Novo modelo {version} em serviço{how}.\nAcurácia na validação: antes {old}, agora {pct(new_acc, 2)}.\n"
        "Se quiser voltar, use /reverter."
    )


def retrain_kept_old(version: str, old_acc: float, new_acc: float) -> str:
    return (
        f"↩️ O novo modelo {version} ficou pior nas mesmas fotos de validação ({pct(new_acc, 2)} contra "
        f"{pct(old_acc, 2)}), então mantive o atual. Para usar mesmo assim: /retreinar forcar"
    )


def retrain_failed(reason: str) -> str:
    return f"❌ O treino falhou e o modelo em serviço continua o mesmo.\nMotivo: {reason}"


def reverted(version: str) -> str:
    return f"↩️ Voltei para o modelo {version}."


NOTHING_TO_REVERT = "Não há um modelo anterior para voltar."


ADD_USAGE = "Use respondendo a uma foto: /adicionar gato ou /adicionar cachorro"


def photo_added(label: str, total: int) -> str:
    return f"📥 Foto guardada como {label}. Agora a pasta de {label}s tem {integer(total)} fotos. Use /retreinar quando quiser."


def token_missing(name: str) -> str:
    return f"{name} não está configurado (veja o README)."


def settings_invalid(detail: str) -> str:
    return f"Configuração inválida: {detail} (veja o README)."


def state_unusable(path: str, detail: str) -> str:
    return (
        f"Não consegui abrir o arquivo de estado {path} ({detail}). Nada foi apagado. "
        "Se outro bot estiver usando esse arquivo, pare-o; se estiver corrompido, guarde uma cópia e "
        "aponte GATO_STATE para um arquivo novo."
    )


LOCAL_WELCOME = (
    "Chat local do 'gato ou cachorro?' (sem internet). Digite o caminho de uma foto (ou arraste o arquivo "
    "para cá), /explicar, /modelo, /ajuda ou /sair."
)


LOCAL_PROMPT = "você> "


LOCAL_BYE = "Até mais! 👋"


def local_picture_saved(path: str) -> str:
    return f"🖼️ Figura salva em: {path}"


LOCAL_FILE_NOT_FOUND = "Não achei esse arquivo. Digite o caminho de uma foto, ou /ajuda."


BUTTON_RIGHT = "✅ acertou"


BUTTON_WRONG = "❌ errou"


BUTTON_APPROVE = "✅ aprovar"


BUTTON_REJECT = "❌ rejeitar"


CORRECTION_CHOICES = {"gato": "🐱 gato", "cachorro": "🐶 cachorro", "nenhum": "🤔 nenhum dos dois"}


THANKS_RIGHT = "Valeu! 😊"


ALREADY_JUDGED = "Você já avaliou esta resposta. Obrigado!"


STALE_BUTTON = "Esse botão é de uma resposta que eu não tenho mais. Mande a foto de novo?"


ASK_WHICH = "Poxa! O que tinha na foto, então?"


TOO_MANY_CORRECTIONS = "Você já mandou muitas correções na última hora. Tenta de novo mais tarde? 🙏"


CORRECTION_SAME_AS_ANSWER = "Essa foi a minha resposta 🙂 Se eu errei, escolha a resposta certa."


NOTHING_TO_REVIEW = "Nenhuma correção esperando revisão. 🎉"


LOCAL_FEEDBACK_HINT = "(Diga /acertou ou /errou gato|cachorro|nenhum para me corrigir.)"


LOCAL_REVIEW_USAGE = "Use /aprovar N ou /rejeitar N (N é o número da correção)."


def correction_stored(label: str) -> str:
    return (
        f"Anotado: {LABEL_WORDS.get(label, label)}. Obrigado! Quem cuida de mim vai revisar, "
        "e se aprovar, a foto entra no próximo treino. 🧑‍🏫"
    )


def review_caption(correction_id: int, predicted: str, label: str, pending: int) -> str:
    return (
        f"Correção nº {correction_id} ({integer(pending)} na fila): eu disse "
        f"\"{LABEL_WORDS.get(predicted, predicted)}\", a pessoa diz \"{LABEL_WORDS.get(label, label)}\"."
    )


def correction_approved(correction_id: int, label: str) -> str:
    return f"✅ Correção nº {correction_id} aprovada: a foto entrou nos dados de treino como {LABEL_WORDS.get(label, label)}."


def correction_rejected(correction_id: int) -> str:
    return f"🗑️ Correção nº {correction_id} rejeitada: a foto foi descartada."


def correction_already_decided(correction_id: int) -> str:
    return f"A correção nº {correction_id} já foi revisada."


def retrain_start_failed(detail: str) -> str:
    return f"não consegui iniciar o processo de treino ({detail})"


def retrain_crashed(exit_code: object) -> str:
    return f"o processo de treino terminou inesperadamente (código {exit_code})"


CLI_HELP = {
    "bot": "Bot 'gato ou cachorro?'.",
    "bot.classificar": "classifica fotos do disco",
    "bot.json": "uma linha JSON por foto",
    "bot.local": "chat local no terminal (sem internet)",
    "bot.telegram": "bot do Telegram (precisa de TELEGRAM_TOKEN)",
    "bot.discord": "bot do Discord (precisa de DISCORD_TOKEN)",
}
