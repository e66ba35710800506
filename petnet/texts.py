"""Everything a person reads, in Brazilian Portuguese, in one place to review and translate.

Functions take plain numbers and strings (never a chat platform's objects) and return text.
Numbers are written the Brazilian way: decimal comma, thousands with a dot.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING

from petnet.images import ImageProblem
from petnet.labels import NEITHER
from petnet.neither import top_class
from petnet.photo_files import PhotoFileProblem

if TYPE_CHECKING:  # only for annotations: petnet.model imports this module's neighbours, not this one
    from petnet.model import Analysis, PetModel

# --- number formatting -------------------------------------------------------------------------


def num(value: float, decimals: int = 2) -> str:
    """1234.5 -> '1.234,50' (pt-BR)."""
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def pct(value: float, decimals: int = 1) -> str:
    return f"{num(100 * value, decimals)}%"


def integer(value: int) -> str:
    return num(value, 0)


def confidence_pct(value: float) -> str:
    """A confidence never reads as a certain 100%: the network is never that sure."""
    if value > 0.999:
        return "mais de 99,9%"
    return pct(value)


def sum_decimals(start: float, added: float, result: float) -> int:
    """Decimals at which the rounded numbers still add up (start + added = result) for a person checking: 2, else
    more. 0,03 + 0,05 = 0,09 would look wrong; 0,032 + 0,054 = 0,086 does not."""
    for decimals in (2, 3, 4):
        shown = [round(float(f"{value:.{decimals}f}") * 10**decimals) for value in (start, added, result)]
        if shown[0] + shown[1] == shown[2]:  # in whole units of the last decimal shown, as a person adds them
            return decimals
    return 5


def signed(value: float, decimals: int = 2) -> str:
    """+1,23 or -1,23: a push towards one side or the other."""
    return ("+" if value >= 0 else "-") + num(abs(value), decimals)


def subscript(value: int) -> str:
    """1280 -> '₁₂₈₀': indices written the way a formula writes them, without a thousands dot."""
    return str(value).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


def people_prob(value: float) -> str:
    """A probability rounded for people, with the exact digits when rounding would hide them.

    0,58; "praticamente 1 (0,99999996)"; "praticamente 0 (0,00000004)".
    """
    if 0.0 < value < 1.0 and round(value, 2) in (0.0, 1.0):
        return f"praticamente {round(value)} ({prob(value)})"
    return num(value, 2)


def chance_pct(value: float) -> str:
    """A probability in % that never reads as a certain 0% or 100%."""
    if value > 0.999:
        return "mais de 99,9%"
    if value < 0.001:
        return "menos de 0,1%"
    return pct(value)


def chance_moved(before: float, after: float) -> str:
    """How P(gato) moved, never "de mais de 99,9% para 99,9%": near a certainty, say it stayed there."""
    for low, high, where in ((0.99, 1.0, "acima de 99%"), (0.0, 0.01, "abaixo de 1%")):
        if low <= before <= high and low <= after <= high:
            return f"P(gato) ficou {where}"
    return f"P(gato) foi de {chance_pct(before)} para {chance_pct(after)}"


def prob(value: float) -> str:
    """A probability with enough digits that it does not round to exactly 0 or 1."""
    decimals = 4
    while decimals < 12 and round(value, decimals) in (0.0, 1.0) and 0.0 < value < 1.0:
        decimals += 1
    return num(value, decimals)


# --- image problems ----------------------------------------------------------------------------

IMAGE_PROBLEMS = {
    ImageProblem.EMPTY: "O arquivo chegou vazio (0 bytes). Pode tentar mandar de novo?",
    ImageProblem.NOT_AN_IMAGE: "Isso não parece ser uma imagem. Me manda uma foto (JPEG, PNG, WebP ou GIF)?",
    ImageProblem.UNSUPPORTED_FORMAT: (
        "Formato não suportado: ainda não consigo abrir esse tipo de imagem (HEIC, por exemplo). "
        "Tenta mandar como foto comum ou em JPEG/PNG?"
    ),
    ImageProblem.TOO_MANY_PIXELS: (
        "Essa imagem é grande demais para eu abrir com segurança (pixels demais). Pode mandar uma versão menor?"
    ),
    ImageProblem.CORRUPT: "Não consegui ler essa imagem: o arquivo parece corrompido ou incompleto. Tenta de novo?",
    ImageProblem.TOO_COSTLY: (
        "Essa imagem é pesada demais para eu abrir com segurança: abri-la gastaria memória ou tempo demais. "
        "Pode mandar como foto comum (o app já reduz o tamanho) ou salvar em JPEG menor?"
    ),
    ImageProblem.MALFORMED: (
        "Esse arquivo tem uma estrutura estranha, que nenhuma câmera ou celular produz, e por segurança eu não abro. "
        "Tira um print ou salva a foto de novo em JPEG e me manda?"
    ),
    ImageProblem.TOO_SLOW: (
        "Essa imagem demorou demais para abrir e eu desisti dela, para não deixar ninguém esperando. "
        "Pode mandar como foto comum ou numa versão menor?"
    ),
    ImageProblem.DECODER_CRASHED: (
        "Opa, não consegui abrir essa imagem: o leitor de imagens travou com ela. "
        "Se for uma foto de verdade, tenta salvar de novo em JPEG e me mandar?"
    ),
}


def image_problem(problem: ImageProblem) -> str:
    return IMAGE_PROBLEMS[problem]


# --- photo files named by a path (classificar, terminal chat) ----------------------------------

PHOTO_FILE_PROBLEMS = {
    PhotoFileProblem.NOT_FOUND: "Não encontrei esse arquivo. Confere o caminho?",
    PhotoFileProblem.NOT_A_FILE: (
        "Isso não é um arquivo de foto comum (é uma pasta, um dispositivo ou um pipe). Me passa o caminho de uma foto?"
    ),
    PhotoFileProblem.TOO_BIG: "Esse arquivo é grande demais: aceito fotos de até {limite}. Tem uma versão menor?",
    PhotoFileProblem.UNREADABLE: "Não consegui ler esse arquivo (sem permissão de leitura ou erro do disco).",
    PhotoFileProblem.BAD_PATH: "Esse caminho não é válido: tem caracteres que um nome de arquivo não pode ter, ou é longo demais.",
}


def megabytes(size: int) -> str:
    """20971520 -> '20 MB' (binary megabytes, as the download limits are written)."""
    return f"{num(size / 2**20, 0 if size % 2**20 == 0 else 1)} MB"


def photo_file_problem(problem: PhotoFileProblem, limit: int) -> str:
    return PHOTO_FILE_PROBLEMS[problem].format(limite=megabytes(limit))


# --- command-line classification ---------------------------------------------------------------


# --- trainer -----------------------------------------------------------------------------------


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


# --- answers to a photo ------------------------------------------------------------------------

LABEL_WORDS = {"gato": "gato", "cachorro": "cachorro", "nenhum": "nem gato nem cachorro"}
LABEL_EMOJI = {"gato": "🐱", "cachorro": "🐶", "nenhum": "🤔"}

# Confidence bands on the calibrated probability of the answer given.
SURE_FROM = 0.95
THINK_FROM = 0.75


def confidence_bar(confidence: float, width: int = 10) -> str:
    filled = round(max(0.0, min(1.0, confidence)) * width)
    return "▓" * filled + "░" * (width - filled)


def verdict(label: str, confidence: float, doubt_below: float = THINK_FROM) -> str:
    """The first line of an answer: the label, with words that match the calibrated confidence."""
    if label == NEITHER:
        return f"{LABEL_EMOJI[label]} Acho que isto não é nem gato nem cachorro."
    answer = LABEL_WORDS[label].upper()
    if confidence >= max(SURE_FROM, doubt_below):
        return f"{LABEL_EMOJI[label]} É {answer}! Tenho quase certeza."
    if confidence >= doubt_below:
        return f"{LABEL_EMOJI[label]} Acho que é {answer}."
    return f"🤷 Fiquei em dúvida. Meu palpite: {answer}."


def distance_words(distance: float) -> str:
    """How far the output z is from the border between the answers."""
    if distance >= 8:
        return "bem longe dela"
    if distance >= 3:
        return "longe dela"
    if distance >= 1:
        return "perto dela"
    return "quase em cima dela"


def photo_answer(analysis: Analysis, model: PetModel) -> str:
    """The reply to a photo (at most 4 lines): verdict, confidence, and a why that differs between photos.

    Cheap on purpose (the answer path is hot): the output z, already computed, its border after
    calibration, and the pretrained part's best guess among its 1,000 classes.
    """
    decision = analysis.decision
    index, probability = top_class(analysis.features.imagenet_logits)
    seen = imagenet_guess(index, probability)
    if decision.label == NEITHER:
        return "\n".join(
            [
                verdict(decision.label, decision.confidence),
                f"O palpite da parte pré-treinada da rede, que conhece 1.000 tipos de coisas: {seen}.",
                f"Por quê? Ela deu só {pct(decision.pet_mass)} de chance somando todas as raças de gatos e "
                f"cachorros que conhece; abaixo de {pct(decision.neither_threshold)} eu não digo gato nem cachorro.",
            ]
        )
    slope, offset = model.calibration.slope, model.calibration.offset
    border = -offset / slope if slope else 0.0
    return "\n".join(
        [
            verdict(decision.label, decision.confidence, decision.doubt_below),
            f"{confidence_bar(decision.confidence)} {confidence_pct(decision.confidence)} de confiança",
            f"Por quê? A soma final da minha rede deu z = {num(decision.logit)}. A fronteira fica em z = "
            f"{num(border)} (acima, gato; abaixo, cachorro), e esta foto ficou "
            f"{distance_words(abs(decision.logit - border))}. E o palpite da parte pré-treinada da rede: {seen}.",
        ]
    )


def imagenet_name(index: int) -> str:
    """The Portuguese name of one of the 1,000 ImageNet classes the pretrained part knows."""
    return imagenet_names()[index]


def imagenet_guess(index: int, probability: float) -> str:
    """'gato egípcio (21%)'. A name with its own parentheses loses them, so no '(...) (12%)' pile-up:
    'dole (cão-selvagem-asiático)' reads 'dole, cão-selvagem-asiático (12%)'."""
    name = imagenet_name(index)
    if name.endswith(")") and " (" in name:
        name = name[:-1].replace(" (", ", ", 1)
    return f"{name} ({pct(probability, 0)})"


@functools.cache
def imagenet_names() -> list[str]:
    """The 1,000 ImageNet class names in Brazilian Portuguese, in class order (petnet/imagenet_pt.json)."""
    names = json.loads((Path(__file__).parent / "imagenet_pt.json").read_text(encoding="utf-8"))
    if not isinstance(names, list) or len(names) != 1000:
        raise ValueError("petnet/imagenet_pt.json must list the 1,000 ImageNet classes in order")
    return [str(name) for name in names]


@functools.cache
def imagenet_english_names() -> list[str]:
    """The 1000 ImageNet class names (from skl2onnx's tutorial data, Apache-2.0), read without sklearn."""
    return list(json.loads((Path(__file__).parent / "imagenet_classes.json").read_text(encoding="utf-8")))


# --- commands -----------------------------------------------------------------------------------


# --- administration -------------------------------------------------------------------------------


# --- local chat -------------------------------------------------------------------------------------


# --- feedback and corrections ------------------------------------------------------------------------


# --- words drawn inside the explanation pictures (petnet/pictures.py) ------------------------------------------------------

HEATMAP_TITLE = "Onde estava a evidência"
HEATMAP_ANSWER = "resposta: {label}"
HEATMAP_SUM = "soma das cores {total} = z {z} − foto média {baseline}"
HEATMAP_TOWARDS_WORDS = "empurrou para"  # drawn above GATO / CACHORRO at each end of the colour key
HEATMAP_NEUTRAL = "igual à foto média"  # the middle of the colour key
HEATMAP_STRENGTH_NOTE = "quanto mais forte a cor, mais o quadradinho pesou"
HEATMAP_FLAT_NOTE = "nesta foto nenhum quadradinho pesou para um lado"
HEATMAP_FRAME_NOTE = "moldura: o pedaço que mais empurrou"
EXPERIMENT_TITLES = {"cover": "E se eu tapar?", "keep": "E se ficar só ele?"}
EXPERIMENT_Z = "z: {before} → {after}"
EXPERIMENT_COVERED_NOTE = "cinza: tapado com a foto média"

NETWORK_TITLE = "Os neurônios desta foto"
NETWORK_ANSWER = "A rede respondeu {label} ({confidence} de confiança, já calibrada)"
NETWORK_ANSWER_OTHER = "A resposta foi: {label}"
NETWORK_INPUT_TITLE = "Entrada"
NETWORK_INPUT_COUNT = "{n} características"
NETWORK_INPUT_NOTE = "claro = forte nesta foto"
NETWORK_LAYER_TITLE = "{i}ª camada oculta"
NETWORK_LAYER_COUNT = "{n} neurônios"
NETWORK_LAYER_FIRED = "dispararam: {fired} de {n}"
NETWORK_LAYER_TITLE_SHORT = "{i}ª camada"  # the forms used when three hidden layers leave less room
NETWORK_LAYER_FIRED_SHORT = "dispararam:\n{fired} de {n}"
NETWORK_OUTPUT_COUNT = "1 neurônio"
NETWORK_OUTPUT_TITLE = "Saída"
NETWORK_OUTPUT_RULE = "a partir de 0,5 = gato"
NETWORK_OUTPUT_Z = "z = {z}; no círculo, P(gato)"
NETWORK_MARKED = "nº {index}"  # the neuron the thread writes out, circled
NETWORK_GAUGE_LOW = "cachorro"
NETWORK_GAUGE_HIGH = "gato"
NETWORK_LEGEND_FIRED = {
    "relu": "disparou (valor > 0)",
    "tanh": "disparou (valor > 0)",
    "logistic": "disparou (valor ≥ 0,5)",
}
NETWORK_LEGEND_FIRED_OTHER = "disparou"
NETWORK_LEGEND_QUIET = "ficou quieto"
NETWORK_LEGEND_UP = "ligação que aumenta a soma (na saída: rumo a GATO)"
NETWORK_LEGEND_DOWN = "ligação que diminui a soma (na saída: rumo a CACHORRO)"
NETWORK_LEGEND_ONLY_STRONGEST = (
    "Só aparecem as ligações que mais pesaram nesta foto (valor × peso); mais grossa = pesou mais."
)

CURVE_TITLE = "Como eu aprendi"
CURVE_X_LABEL = "época (uma passada por todas as fotos de treino)"
CURVE_X_LABEL_FROM_ZERO = "época (0 = pesos sorteados, antes do treino)"
CURVE_LOSS_LABEL = "erro no treino (log-loss + L2)"
CURVE_ACCURACY_LABEL = "acerto na validação (%)"
CURVE_LOSS_LEGEND = "erro médio no treino (não é %)"
CURVE_ACCURACY_LEGEND = "acerto nas fotos de validação"
CURVE_FINAL_LOSS = "erro final: {value}"
CURVE_FINAL_ACCURACY = "acerto final: {value}"
CURVE_EMPTY = "ainda não há épocas de treino registradas"


# --- command-line help (python -m bot, python -m trainer, python -m trainer.evaluate) ----------------
