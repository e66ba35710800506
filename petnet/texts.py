"""Everything a person reads, in Brazilian Portuguese, in one place to review and translate.

Functions take plain numbers and strings (never Telegram or Discord objects) and return text.
Numbers are written the Brazilian way: decimal comma, thousands with a dot.
"""

from __future__ import annotations

from petnet.images import ImageProblem

# --- number formatting -------------------------------------------------------------------------


def num(value: float, decimals: int = 2) -> str:
    """1234.5 -> '1.234,50' (pt-BR)."""
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def pct(value: float, decimals: int = 1) -> str:
    return f"{num(100 * value, decimals)}%"


def integer(value: int) -> str:
    return num(value, 0)


# --- image problems ----------------------------------------------------------------------------

IMAGE_PROBLEMS = {
    ImageProblem.EMPTY: "O arquivo chegou vazio (0 bytes). Pode tentar mandar de novo?",
    ImageProblem.NOT_AN_IMAGE: "Isso não parece ser uma imagem. Me manda uma foto (JPEG, PNG, WebP ou GIF)?",
    ImageProblem.UNSUPPORTED_FORMAT: (
        "Formato não suportado: ainda não consigo abrir esse tipo de imagem (HEIC, por exemplo). "
        "Tenta mandar como foto comum ou em JPEG/PNG?"
    ),
    ImageProblem.TOO_MANY_PIXELS: (
        "Essa imagem é grande demais para eu abrir com segurança (pixels demais). "
        "Pode mandar uma versão menor?"
    ),
    ImageProblem.CORRUPT: "Não consegui ler essa imagem: o arquivo parece corrompido ou incompleto. Tenta de novo?",
}


def image_problem(problem: ImageProblem) -> str:
    return IMAGE_PROBLEMS[problem]


# --- command-line classification ---------------------------------------------------------------


def cli_verdict(file: str, label: str, confidence: float) -> str:
    return f"{file}: {label} ({pct(confidence)} de confiança)"


def cli_file_error(file: str, reason: str) -> str:
    return f"{file}: erro: {reason}"


CLI_FILE_NOT_FOUND = "arquivo não encontrado ou sem permissão de leitura"
CLI_NO_MODEL = "Nenhum modelo utilizável foi encontrado. Treine um com: python -m trainer PASTA_DE_FOTOS"

# --- trainer -----------------------------------------------------------------------------------

TRAIN_STAGES = {
    "scan": "Verificando as fotos",
    "features": "Extraindo características",
    "fit": "Treinando a rede (MLP)",
    "validate": "Validando e exportando",
}


def train_dataset_error(detail: str) -> str:
    return (
        f"Não consegui usar essa pasta de dados: {detail}\n"
        "Ela precisa ter uma subpasta gatos/ e uma cachorros/ (ou cats/ e dogs/), "
        "ou então train/ e val/ com essas duas dentro."
    )


TRAIN_INTERRUPTED = "Treino interrompido. Nada foi gravado: o modelo anterior continua em serviço."


def _confusion_lines(confusion: list[list[int]]) -> list[str]:
    (dd, dc), (cd, cc) = confusion
    return [
        "  matriz de confusão (linhas = verdade, colunas = resposta da rede):",
        "                 cachorro   gato",
        f"    cachorro     {dd:>8} {dc:>6}",
        f"    gato         {cd:>8} {cc:>6}",
    ]


def train_summary(card: object, out_dir: str, promoted: bool, extracted_new: int) -> str:
    """The trainer's closing report (``card`` is a petnet.card.ModelCard)."""
    from petnet.card import ModelCard

    assert isinstance(card, ModelCard)
    val = card.val
    lines = [
        "",
        "Resumo do treino",
        f"  dados: {card.data_dir} ({card.split})",
        f"  treino: {card.train_counts.gato} gatos + {card.train_counts.cachorro} cachorros;"
        f" validação: {card.val_counts.gato} gatos + {card.val_counts.cachorro} cachorros",
        f"  fotos ilegíveis ignoradas: {len(card.unreadable)}",
        f"  características extraídas agora: {extracted_new} (o resto veio do cache)",
        f"  rede escolhida: {describe_architecture(card.hidden_layers, card.activation)},"
        f" {card.epochs} épocas",
        f"  acurácia na validação: {pct(val.accuracy, 2)}"
        f" (gatos {pct(val.accuracy_gato, 2)}, cachorros {pct(val.accuracy_cachorro, 2)})",
        *_confusion_lines(val.confusion),
        f"  erro de calibração (ECE): {num(val.ece, 4)} (antes da calibração: {num(card.raw_val.ece, 4)})",
        f"  ONNX e scikit-learn concordam em todas as {val.n} fotos de validação"
        f" (maior diferença: {card.extra.get('parity_max_diff', 0):.1e})",
        f"  modelo {card.version} gravado em {out_dir}" + (" e colocado em serviço" if promoted else ""),
    ]
    return "\n".join(lines)


ACTIVATION_NAMES = {
    "relu": "ReLU",
    "tanh": "tangente hiperbólica",
    "logistic": "sigmoide (a função que espreme z entre 0 e 1)",
    "identity": "identidade",
}


def describe_architecture(hidden: list[int], activation: str) -> str:
    layers = " + ".join(str(h) for h in hidden)
    noun = "camada oculta" if len(hidden) == 1 else "camadas ocultas"
    return f"{len(hidden)} {noun} ({layers} neurônios), ativação {ACTIVATION_NAMES.get(activation, activation)}"


def model_card_markdown(card: object) -> str:
    """MODEL_CARD.md: the human-readable half of the card."""
    from petnet.card import ModelCard

    assert isinstance(card, ModelCard)
    val, raw = card.val, card.raw_val
    fx = card.feature_extractor
    candidates = "\n".join(
        f"| {' + '.join(map(str, c.hidden_layers))} | {c.activation} | {pct(c.val_accuracy, 2)} | {num(c.val_log_loss, 4)} |"
        for c in card.candidates
    )
    checksums = "\n".join(f"- `{name}`: `{sha}`" for name, sha in sorted(card.checksums.items()))
    unreadable = "\n".join(f"- `{u}`" for u in card.unreadable) or "- nenhuma"
    return f"""# Cartão do modelo `{card.version}`

*English summary: MLP head for cat-vs-dog on EfficientNet-Lite0 pooled features; validation accuracy
{100 * val.accuracy:.2f}% on {val.n} photos; produced by `{card.command}` on {card.created_at}.*

## O que é
Uma rede neural pequena (MLP do scikit-learn) que decide "gato ou cachorro" a partir das
{fx.get('dimensions', 1280)} características que a EfficientNet-Lite0 pré-treinada no ImageNet extrai de cada foto.
A saída da rede é um número entre 0 e 1: a partir de 0,5 a resposta é **gato**, abaixo disso **cachorro**.

- Arquitetura: {describe_architecture(card.hidden_layers, card.activation)}; regularização L2 alpha={card.alpha:g}
- Treino: {card.epochs} épocas de Adam (retropropagação + descida do gradiente)
- Calibração (Platt): P(gato) = sigmoide({num(card.calibration['slope'], 4)} · z + {num(card.calibration['offset'], 4)})
- Extrator de características: {fx.get('name')} ({fx.get('weights_package')}), recorte `{fx.get('crop')}`,
  entrada {fx.get('input_size')}x{fx.get('input_size')} com (x - 127) / 128

## Como foi produzido
- Comando: `{card.command}`
- Dados: `{card.data_dir}` ({card.split})
- Treino: {card.train_counts.gato} gatos + {card.train_counts.cachorro} cachorros
- Validação: {card.val_counts.gato} gatos + {card.val_counts.cachorro} cachorros
- Data: {card.created_at}
- Fotos ilegíveis ignoradas:
{unreadable}

## Resultados na validação
| métrica | antes da calibração | depois da calibração |
|---|---|---|
| acurácia | {pct(raw.accuracy, 2)} | {pct(val.accuracy, 2)} |
| acurácia em gatos | {pct(raw.accuracy_gato, 2)} | {pct(val.accuracy_gato, 2)} |
| acurácia em cachorros | {pct(raw.accuracy_cachorro, 2)} | {pct(val.accuracy_cachorro, 2)} |
| erro de calibração (ECE, 15 faixas) | {num(raw.ece, 4)} | {num(val.ece, 4)} |
| log-loss | {num(raw.log_loss, 4)} | {num(val.log_loss, 4)} |

Matriz de confusão (calibrada; linhas = verdade, colunas = resposta): cachorro→cachorro {val.confusion[0][0]},
cachorro→gato {val.confusion[0][1]}, gato→cachorro {val.confusion[1][0]}, gato→gato {val.confusion[1][1]}.

A arquitetura e a ativação foram escolhidas pela acurácia (e depois log-loss) nessas mesmas fotos de
validação, e a calibração foi ajustada nelas; o ECE acima é validado cruzado (cada foto calibrada por
uma calibração que não a viu). Candidatos testados:

| camadas ocultas | ativação | acurácia val. | log-loss val. |
|---|---|---|---|
{candidates}

## Limites
A rede só conhece gatos e cachorros parecidos com os das fotos de treino; fotos muito diferentes
(desenhos, outros animais, pessoas) podem receber uma resposta confiante e errada.

## Checksums (sha256)
{checksums}
- backbone ONNX: `{fx.get('onnx_sha256')}`
- pesos originais: `{fx.get('weights_sha256')}`
"""
