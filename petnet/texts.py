"""Everything a person reads, in Brazilian Portuguese, in one place to review and translate.

Functions take plain numbers and strings (never Telegram or Discord objects) and return text.
Numbers are written the Brazilian way: decimal comma, thousands with a dot.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

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


def confidence_pct(value: float) -> str:
    """A confidence never reads as a certain 100%: the network is never that sure."""
    if value > 0.999:
        return "mais de 99,9%"
    return pct(value)


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
        "Essa imagem é grande demais para eu abrir com segurança (pixels demais). "
        "Pode mandar uma versão menor?"
    ),
    ImageProblem.CORRUPT: "Não consegui ler essa imagem: o arquivo parece corrompido ou incompleto. Tenta de novo?",
}


def image_problem(problem: ImageProblem) -> str:
    return IMAGE_PROBLEMS[problem]


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


def confidence_words(confidence: float, doubt_below: float = THINK_FROM) -> str:
    if confidence >= max(SURE_FROM, doubt_below):
        return "Tenho quase certeza"
    if confidence >= doubt_below:
        return "Acho que"
    return "Estou em dúvida, mas acho que"


def photo_answer(
    label: str, confidence: float, n_fired: int, n_hidden_first: int, logit: float, doubt_below: float = THINK_FROM
) -> str:
    """The reply to a photo: verdict, bar, words that match the calibrated probability, and a why."""
    words = confidence_words(confidence, doubt_below)
    verdict = f"{LABEL_EMOJI[label]} {words}: é {LABEL_WORDS[label].upper()}!"
    if words.startswith("Estou em dúvida"):
        verdict = f"🤷 {words} é {LABEL_WORDS[label]}… mas não aposte nisso."
    p_raw = 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, logit))))
    rule = "a partir de 0,5: gato" if p_raw >= 0.5 else "abaixo de 0,5: cachorro"
    why = (
        f"Por quê? {n_fired} dos {n_hidden_first} neurônios da primeira camada oculta dispararam para esta foto, "
        f"e o neurônio de saída somou tudo em z = {num(logit, 2)}, que a sigmoide transforma em {prob(p_raw)} ({rule})."
    )
    return "\n".join(
        [
            verdict,
            f"{confidence_bar(confidence)} {confidence_pct(confidence)} de confiança",
            why,
            "Quer ver a conta passo a passo? Use /explicar",
        ]
    )


def imagenet_name(index: int) -> str:
    """A Portuguese name for an ImageNet class when we have one, else its English name, flagged as such."""
    if index in IMAGENET_PT:
        return IMAGENET_PT[index]
    return f"“{imagenet_english_names()[index].split(',')[0]}” (nome em inglês)"


@functools.cache
def imagenet_english_names() -> list[str]:
    """The 1000 ImageNet class names (from skl2onnx's tutorial data, Apache-2.0), read without sklearn."""
    return list(json.loads((Path(__file__).parent / "imagenet_classes.json").read_text(encoding="utf-8")))


def neither_answer(top_index: int, top_probability: float, pet_mass: float, threshold: float) -> str:
    """The reply when the photo seems to be neither a cat nor a dog."""
    return "\n".join(
        [
            "🤔 Acho que isso não é nem gato nem cachorro!",
            f"Parece mais com: {imagenet_name(top_index)} ({pct(top_probability, 0)} de chance, segundo a parte "
            "pré-treinada da rede, que conhece 1.000 tipos de coisas).",
            f"Por que não arrisco? Essa parte deu só {pct(pet_mass, 1)} de chance somando todas as raças de gatos e "
            f"cachorros que ela conhece; abaixo de {pct(threshold, 1)} eu prefiro não chutar.",
            "Se eu errei, me corrija com os botões. Quer ver a conta? Use /explicar",
        ]
    )


# Portuguese names of ImageNet classes that common non-pet photos get (index -> name).
IMAGENET_PT = {
    151: "chihuahua", 207: "golden retriever", 208: "labrador", 281: "gato malhado", 282: "gato tigrado",
    283: "gato persa", 284: "gato siamês", 285: "gato egípcio", 286: "puma", 287: "lince", 288: "leopardo",
    291: "leão", 292: "tigre", 294: "urso-pardo", 295: "urso-negro", 340: "zebra", 346: "búfalo",
    339: "cavalo-azedo", 344: "hipopótamo", 354: "camelo", 385: "elefante-indiano", 386: "elefante-africano",
    388: "panda", 403: "porta-aviões", 404: "avião", 409: "relógio analógico", 414: "mochila",
    417: "balão", 429: "bola de beisebol", 444: "bicicleta de dois lugares", 466: "trem-bala",
    468: "táxi", 487: "celular", 504: "xícara de café", 508: "teclado de computador", 526: "escrivaninha",
    527: "computador de mesa", 530: "relógio digital", 547: "locomotiva elétrica", 549: "envelope",
    557: "mastro de bandeira", 559: "cadeira dobrável", 562: "chafariz", 564: "cama de dossel",
    565: "caminhão de mudança", 567: "frigideira", 569: "caminhão de lixo", 573: "kart",
    574: "bola de golfe", 581: "grade de carro", 605: "iPod", 609: "jipe", 620: "notebook", 627: "limusine",
    651: "micro-ondas", 652: "uniforme militar", 656: "van", 661: "carro Modelo T", 665: "mobilete",
    670: "lambreta", 671: "mountain bike", 672: "barraca de camping", 673: "mouse", 675: "caminhão de mudança",
    703: "banco de praça", 717: "picape", 718: "píer", 720: "frasco de remédio", 725: "jarra",
    734: "viatura de polícia", 736: "mesa de sinuca", 752: "raquete", 760: "geladeira", 762: "restaurante",
    779: "ônibus escolar", 795: "esqui", 805: "bola de futebol", 813: "espátula", 817: "carro esportivo",
    827: "fogão", 829: "bonde", 834: "terno", 850: "ursinho de pelúcia", 851: "televisão",
    852: "bola de tênis", 859: "torradeira", 861: "assento de privada", 864: "caminhão-reboque",
    866: "trator", 867: "carreta", 874: "ônibus elétrico", 879: "guarda-chuva", 883: "vaso",
    892: "relógio de parede", 907: "garrafa de vinho", 919: "placa de rua", 920: "semáforo",
    923: "prato", 924: "guacamole", 925: "consomê", 926: "panela", 927: "sorvete", 928: "picolé",
    930: "baguete", 931: "bagel", 932: "pretzel", 933: "cheeseburger", 934: "cachorro-quente",
    935: "purê de batata", 937: "brócolis", 938: "couve-flor", 947: "cogumelo", 948: "maçã verde",
    949: "morango", 950: "laranja", 951: "limão", 953: "abacaxi", 954: "banana", 959: "carbonara",
    962: "bolo de carne", 963: "pizza", 965: "burrito", 967: "expresso", 970: "montanha", 972: "penhasco",
    975: "beira de lago", 976: "promontório", 977: "banco de areia", 978: "praia", 980: "vulcão",
    981: "jogador de beisebol", 985: "margarida",
}


# --- the /explicar thread ------------------------------------------------------------------------

ACTIVATION_RULES = {
    "relu": ("ReLU", "max(0; z)", "dispara quando z passa de 0"),
    "tanh": ("tangente hiperbólica", "tanh(z)", "dispara quando o resultado é positivo"),
    "logistic": ("sigmoide", "1 / (1 + e^(−z))", "dispara quando o resultado chega a 0,5"),
}


def _term(t: object) -> str:
    from petnet.explain import Term

    assert isinstance(t, Term)
    return f"({num(t.x, 2)} × {num(t.w, 3)})"


def explanation_posts(ex: object) -> list[tuple[str, str | None]]:
    """The /explicar thread for one photo: (numbered text, picture kind or None) per post."""
    from petnet.explain import Explanation

    assert isinstance(ex, Explanation)
    name, formula, rule = ACTIVATION_RULES.get(ex.activation, (ex.activation, "f(z)", "dispara quando f(z) > 0"))
    width, height = ex.original_size
    layers = ex.layers
    sizes = " + ".join(integer(layer.size) for layer in layers)
    fired_parts = [
        f"{integer(layer.n_fired)} dos {integer(layer.size)} da {i}ª camada" for i, layer in enumerate(layers, 1)
    ]
    n = ex.neuron
    terms = " + ".join(_term(t) for t in n.terms)
    answer = LABEL_WORDS[ex.label].upper()
    out = ex.output
    side = "gato" if out.sigmoid >= 0.5 else "cachorro"
    staff = "a 1ª camada oculta são os supervisores" + (
        ", a 2ª são os gerentes" if len(layers) >= 2 else ""
    )
    neither = ex.label == "nenhum"
    question = "não é nem gato nem cachorro" if neither else f"é de {answer}"
    posts = [
        f"🧵 Como eu decidi que esta foto {question}? Vou abrir a caixa-preta com os números de verdade "
        "da minha rede neural, calculados agora para a sua foto. Uma rede neural é uma função: entra uma foto (x), "
        "sai uma resposta (y).",
        f"📷 Primeiro, a foto virou números. Ela tinha {integer(width)}×{integer(height)} pixels; "
        f"recortei o quadrado do meio e reduzi para {ex.input_size}×{ex.input_size}. "
        f"Cada pixel tem vermelho, verde e azul: são {integer(ex.n_input_numbers)} números.\n\n"
        f"Esses números passaram por uma rede pré-treinada (EfficientNet-Lite0), que já tinha aprendido a "
        f"enxergar bordas, texturas, pelos e focinhos em milhões de fotos. Ela devolveu "
        f"{integer(ex.n_features)} \"relatórios\"; nesta foto {integer(ex.n_active_features)} vieram acima de zero, "
        f"e o mais forte foi o nº {integer(ex.strongest_feature[0])} (valor {num(ex.strongest_feature[1], 2)}).",
        f"🧠 Esses {integer(ex.n_features)} relatórios são a entrada da minha rede de decisão, uma MLP com "
        f"{len(layers)} {'camada oculta' if len(layers) == 1 else 'camadas ocultas'} de {sizes} neurônios. Cada neurônio faz uma soma com pesos e aplica "
        f"a função {name}, {formula}: ele {rule}.\n\nNesta foto dispararam " + ", e ".join(fired_parts) + ".",
        f"🔎 Vamos olhar um deles de perto: o neurônio {n.index} da {n.layer}ª camada, o que mais empurrou "
        f"para \"{ex.mlp_label}\". A conta dele é z = x1·w1 + x2·w2 + … + x{integer(ex.n_features)}·w{integer(ex.n_features)} + b:\n\n"
        f"z = {terms} + (outros {integer(n.n_rest)} termos, somando {num(n.rest, 2)}) + ({num(n.bias, 3)}) "
        f"= {num(n.z, 2)}\n\n"
        f"Aplicando {formula}: {num(n.activation, 2)}. " + ("Ele disparou! ✅" if n.fired else "Ele ficou quieto."),
        f"🎯 No fim, um único neurônio de saída junta os {integer(out.from_layer_size)} valores da última camada "
        f"oculta: soma ponderada {num(out.weighted_sum, 2)} + viés ({num(out.bias, 2)}) = z = {num(out.z, 2)}.\n\n"
        f"A sigmoide espreme z entre 0 e 1: σ({num(out.z, 2)}) = {prob(out.sigmoid)}. A regra: a partir de 0,5 é "
        f"gato, abaixo é cachorro. Aqui deu {side}. Ajustado (calibrado) com fotos de validação, isso vira "
        f"{confidence_pct(max(out.calibrated, 1 - out.calibrated))} de confiança.",
        f"📚 E de onde vieram os pesos? Do treino: vi {integer(ex.train_gatos)} fotos de gatos e "
        f"{integer(ex.train_cachorros)} de cachorros, {integer(ex.epochs)} vezes cada (épocas). A cada erro, a "
        f"retropropagação calculou, de trás para frente, para que lado cada um dos {integer(ex.n_weights)} pesos "
        "devia andar (o gradiente, uma espécie de bússola), e a descida do gradiente deu um passinho nessa direção.\n\n"
        f"Em {integer(ex.val_n)} fotos que nunca vi no treino, acertei {pct(ex.val_accuracy, 1)}.",
        f"🏢 Pense num escritório: a rede pré-treinada são os funcionários que olham os pixels e escrevem "
        f"relatórios; {staff}; e o neurônio de saída é a diretora que bate o martelo: gato ou cachorro. "
        "No treino, cada erro dela virava uma bronca que descia a hierarquia, e cada um ajustava seus pesos "
        "para errar menos.",
        "⚠️ Um limite honesto: eu só aprendi a separar gatos de cachorros. Não sei raça, nome nem idade, e não "
        "entendo a foto como você entende: vejo padrões de números. Uma foto estranha (desenho, outro animal, "
        "um gato fantasiado de cachorro) pode me enganar com toda a confiança.",
    ]
    if neither:
        index, probability = ex.imagenet_top
        posts.insert(
            5,
            f"🚫 Mas antes de responder eu conferi outra coisa. A parte pré-treinada também sabe dar nome a 1.000 tipos "
            f"de coisas, e para esta foto ela deu só {pct(ex.pet_mass, 1)} de chance somando todas as raças de gatos e "
            f"cachorros (meu limite é {pct(ex.neither_threshold, 1)}). O que ela mais viu foi: {imagenet_name(index)} "
            f"({pct(probability, 0)}). Por isso respondi \"nem gato nem cachorro\" em vez de chutar {ex.mlp_label}: "
            "minha MLP só conhece essas duas respostas e diria uma delas para qualquer foto.",
        )
    pictures = [(PICTURE_CAPTIONS[kind], kind) for kind in PICTURE_ORDER]
    thread: list[tuple[str, str | None]] = [(post, None) for post in posts]
    # pictures go right after the post they illustrate: pixels -> heatmap, layers -> network, training -> curve
    anchors = {"heatmap": posts[1], "network": posts[2], "curve": posts[-3]}
    for caption, kind in pictures:
        at = next(i for i, (text, _) in enumerate(thread) if text == anchors[kind]) + 1
        thread.insert(at, (caption, kind))
    total = len(thread)
    return [(f"{i}/{total} {text}", kind) for i, (text, kind) in enumerate(thread, 1)]


def explanation_thread(ex: object) -> list[str]:
    """The /explicar thread's texts (picture posts give their caption), numbered 1/N ... N/N."""
    return [text for text, _ in explanation_posts(ex)]


PICTURE_ORDER = ("heatmap", "network", "curve")
PICTURE_CAPTIONS = {
    "heatmap": "🔥 Onde a rede olhou: nas partes em laranja, a foto empurrou a resposta para GATO; nas em azul, "
    "para CACHORRO. Quanto mais forte a cor, mais aquela parte pesou. (Para quem quer o nome técnico: é um "
    "Grad-CAM, calculado com a derivada da saída da rede em relação a cada uma das 7×7 regiões da foto.)",
    "network": "💡 Os neurônios desta foto: cada bolinha é um neurônio da minha MLP, e as acesas dispararam "
    "para esta foto. As linhas são só as ligações que mais pesaram: as laranja empurram a soma para cima "
    "(rumo a gato), as azuis para baixo (rumo a cachorro).",
    "curve": "📈 Como eu aprendi: a cada época (uma passada por todas as fotos de treino), a linha vermelha "
    "mostra o erro no treino, que a descida do gradiente foi empurrando para baixo; a verde mostra quanto eu "
    "acertava em fotos que nunca tinha visto.",
}


# --- commands -----------------------------------------------------------------------------------


# --- administration -------------------------------------------------------------------------------


# --- local chat -------------------------------------------------------------------------------------


# --- feedback and corrections ------------------------------------------------------------------------


# --- words drawn inside the explanation pictures (petnet/pictures.py) ------------------------------------------------------

HEATMAP_TITLE = "Onde a rede olhou"
HEATMAP_ANSWER = "resposta: {label}"
HEATMAP_TOWARDS_WORDS = "empurrou para"  # drawn above GATO / CACHORRO at each end of the colour key
HEATMAP_NEUTRAL = "não pesou"  # the middle of the colour key
HEATMAP_STRENGTH_NOTE = "quanto mais forte a cor, mais aquela parte pesou"
HEATMAP_FLAT_NOTE = "nesta foto nenhuma parte pesou para um lado"
PICTURE_LABEL_WORDS = {"gato": "GATO", "cachorro": "CACHORRO", "nenhum": "NEM GATO NEM CACHORRO"}

NETWORK_TITLE = "Os neurônios desta foto"
NETWORK_ANSWER = "A rede respondeu {label} ({confidence} de confiança)"
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
NETWORK_OUTPUT_Z = "soma z = {z}"
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
CURVE_LOSS_LABEL = "erro no treino (loss)"
CURVE_ACCURACY_LABEL = "acerto na validação (%)"
CURVE_LOSS_LEGEND = "erro no treino (quanto menor, melhor)"
CURVE_ACCURACY_LEGEND = "acerto em fotos que não vi no treino"
CURVE_FINAL_LOSS = "erro final: {value}"
CURVE_FINAL_ACCURACY = "acerto final: {value}"
CURVE_EMPTY = "ainda não há épocas de treino registradas"


# --- command-line help (python -m bot, python -m trainer, python -m trainer.evaluate) ----------------


