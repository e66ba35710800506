"""The /explicar thread: which posts each case gets, in what order, and their Brazilian Portuguese words.

Follows the path of the thread the project was born from (photo -> numbers -> pretrained part ->
weighted sums -> a function that squashes z -> the output rule -> training -> the office analogy ->
limits), with the real numbers of :class:`~petnet.explain.Explanation`, and shorter where the case
needs less: a doubtful photo shows both sides, a wrong answer what misled it and what a retrain
would change, a photo of neither says why first and skips the gato/cachorro map.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from petnet.explain import Case, Experiment, ExperimentKind, Explanation, Resize, Window
from petnet.labels import NEITHER
from petnet.texts import (
    LABEL_WORDS,
    chance_moved,
    chance_pct,
    confidence_pct,
    imagenet_guess,
    integer,
    num,
    pct,
    people_prob,
    signed,
    subscript,
    sum_decimals,
)

MAX_POSTS = 12
MAX_POST_CHARS = 600
IMAGENET_PHOTOS = "1,28 milhão"  # ImageNet-1k's training set: 1.281.167 photos of 1.000 classes
IMAGENET_CLASSES = 1000


class Section(StrEnum):
    """What a post is about (the conversation and the tests find posts by this, never by position)."""

    OPENING = "opening"
    OVERRIDE = "override"  # nenhum: why the pretrained part's verdict came first
    PIXELS = "pixels"
    PRETRAINED = "pretrained"
    HEATMAP = "heatmap"
    LAYERS = "layers"
    NEURON = "neuron"
    OUTPUT = "output"
    TRAINING = "training"
    RETRAIN = "retrain"  # wrong: what a retrain with the correction would change
    OFFICE = "office"
    LIMITS = "limits"
    EXPERIMENTS = "experiments"  # the invitation to the "E se...?" experiments
    EXPERIMENT = "experiment"  # the result of one experiment (its own message, not numbered)


class PictureKind(StrEnum):
    HEATMAP = "heatmap"
    NETWORK = "network"
    CURVE = "curve"
    EXPERIMENT = "experiment"


@dataclass(frozen=True)
class ThreadPost:
    section: Section
    text: str  # numbered ("3/10 ...") in a thread; the caption when there is a picture
    picture: PictureKind | None = None


EXPERIMENT_BUTTONS = {
    ExperimentKind.COVER: "🙈 E se eu tapar?",
    ExperimentKind.KEEP: "🔍 E se ficar só ele?",
}

# Where a 3x3 block of the 7x7 regions sits, by the third of the photo its centre falls in.
_ROWS = ("em cima", "no meio", "embaixo")
_COLUMNS = ("à esquerda", "no centro", "à direita")


def place(window: Window) -> str:
    """'em cima, à esquerda': where the block is in the photo, in words."""
    row, col = window.centre
    third = [0 if c < 2.5 else 2 if c > 3.5 else 1 for c in (row, col)]
    if third == [1, 1]:
        return "bem no meio"
    return f"{_ROWS[third[0]]}, {_COLUMNS[third[1]]}"


def _upper(label: str) -> str:
    return LABEL_WORDS[label].upper()


def _first_guess(ex: Explanation) -> str:
    index, probability = ex.imagenet_top[0]
    return imagenet_guess(index, probability)


# --- posts ---------------------------------------------------------------------------------------------


def _opening(ex: Explanation, plan: Sequence[Section]) -> str:
    answer = _upper(ex.label)
    if ex.case is Case.DOUBTFUL:
        return (
            f"🧵 Nesta foto eu fiquei em cima do muro: respondi {answer}, mas só com "
            f"{confidence_pct(ex.confidence)} de confiança (abaixo de {pct(ex.doubt_below, 0)} eu aviso que estou "
            "em dúvida). Vamos ver, com os números de verdade da minha rede, o que puxou para cada lado."
        )
    if ex.case is Case.WRONG:
        assert ex.correction is not None
        return (
            f"🧵 Você me corrigiu: a foto é de {_upper(ex.correction.label)} e eu respondi {answer}. Errei. "
            "Vamos procurar, com os números de verdade da minha rede, o que me enganou e o que um novo treino "
            "mudaria."
        )
    return (
        f"🧵 Como eu decidi que esta foto é de {answer}? Vou abrir a caixa-preta com os números de verdade da "
        "minha rede neural, calculados agora para a sua foto. Uma rede neural é uma função: entra uma foto (x), "
        f"sai uma resposta (y). Aqui o y foi {LABEL_WORDS[ex.label]}, com {confidence_pct(ex.confidence)} de "
        "confiança."
    )


def _override(ex: Explanation, plan: Sequence[Section]) -> str:
    return (
        "🧵 Não respondi gato nem cachorro. Antes da decisão, a parte pré-treinada da minha rede, que conhece "
        f"{integer(IMAGENET_CLASSES)} tipos de coisas, olhou a foto: achou parecida com {_first_guess(ex)} e deu só "
        f"{pct(ex.pet_mass)} de chance somando todas as raças de gatos e cachorros que conhece. Abaixo de "
        f"{pct(ex.neither_threshold)} eu não digo gato nem cachorro."
    )


def _pixels(ex: Explanation, plan: Sequence[Section]) -> str:
    width, height = ex.original_size
    side, size = integer(ex.square_side), ex.input_size
    resized = {
        Resize.REDUCED: f"reduzi para {size}×{size}",
        Resize.ENLARGED: f"ampliei para {size}×{size}",
        Resize.KEPT: f"já tinha {size}×{size}",
    }[ex.resize]
    cut = "já era quadrada" if ex.square_side == width == height else f"cortei o maior quadrado do meio ({side}×{side})"
    return (
        f"📷 Primeiro, a foto virou números. Ela tinha {integer(width)}×{integer(height)} pixels; {cut} e "
        f"{resized}. Cada pixel tem 3 números (vermelho, verde e azul): "
        f"são {integer(ex.n_input_numbers)} números na entrada."
    )


def _pretrained(ex: Explanation, plan: Sequence[Section]) -> str:
    frozen = " Meu treino não mexeu nela." if ex.training.backbone_frozen else ""
    if ex.case is Case.NEITHER:
        shown = [(i, p) for n, (i, p) in enumerate(ex.imagenet_top) if n == 0 or pct(p, 0) != "0%"]  # no "0%" guess
        guesses = "; ".join(imagenet_guess(i, p) for i, p in shown)
        seen = f" Os palpites da EfficientNet para esta foto: {guesses}."
    else:
        seen = f" O palpite da EfficientNet para esta foto: {_first_guess(ex)}."
    return (
        "🏭 Esses números passaram pela parte pré-treinada da rede, a EfficientNet-Lite0, que aprendeu a enxergar "
        f"bordas, texturas, pelos e focinhos em cerca de {IMAGENET_PHOTOS} de fotos (o ImageNet).{frozen} Ela "
        f"resume a foto em 7×7 quadradinhos, cada um com {integer(ex.n_features)} números: as características. "
        f"A média dos 49 quadradinhos é a entrada da parte que eu treinei.{seen}"
    )


def _heatmap(ex: Explanation, plan: Sequence[Section]) -> str:
    at = ex.attribution
    assert at is not None and ex.strongest is not None and ex.opposing is not None
    head = (
        "🔥 Onde estava a evidência: comparei cada quadradinho com o mesmo quadradinho da foto média do treino. "
        "Laranja empurrou para GATO, azul para CACHORRO."
    )
    d = sum_decimals(at.baseline_z, at.total, at.z)
    path = (
        f"A foto média dá z = {num(at.baseline_z, d)}; somando as cores ({signed(at.total, d)}), chega-se ao z "
        f"desta foto: {num(at.z, d)}"
    )
    towards, other = ex.mlp_label, ("cachorro" if ex.mlp_label == "gato" else "gato")
    strongest = f"{place(ex.strongest)} ({signed(ex.strongest_push)}, marcado na figura)"
    opposing = f"{place(ex.opposing)} ({signed(ex.opposing_push)})"
    if ex.case is Case.CONFIDENT or ex.label == NEITHER:
        return f"{head} {path}. O pedaço que mais empurrou para {towards} fica {strongest}."
    sides = f"Os quadradinhos laranja somam {signed(at.towards_gato)} e os azuis, {signed(at.towards_cachorro)}."
    border = f"fronteira (z = {num(ex.output.border)})"
    if ex.case is Case.DOUBTFUL:
        return (
            f"{head} {sides} {path}, perto da {border}. O pedaço que mais puxou para {towards} fica {strongest}; "
            f"o que mais puxou para {other}, {opposing}."
        )
    return (
        f"{head} {sides} {path}, do lado de {towards} da {border}. O que mais me levou a {towards} foi o "
        f"pedaço {strongest}; o que mais puxou para {other} ficou {opposing}, e não bastou."
    )


def _layers(ex: Explanation, plan: Sequence[Section]) -> str:
    layers = ex.layers
    sizes = " e ".join(integer(layer.size) for layer in layers)
    fired = ", e ".join(
        f"{integer(layer.n_fired)} dos {integer(layer.size)} da {i}ª camada" for i, layer in enumerate(layers, 1)
    )
    rule = ACTIVATION_RULES.get(ex.activation, "a função de ativação")
    noun = "camada oculta" if len(layers) == 1 else "camadas ocultas"
    return (
        f"🧠 As {integer(ex.n_features)} características entram numa MLP (perceptron de várias camadas: "
        "neurônios em camadas, cada um ligado a todos da camada seguinte), com "
        f"{len(layers)} {noun} de {sizes} neurônios. Cada neurônio soma as entradas multiplicadas por pesos "
        f"(números que o treino ajustou) e aplica {rule}. Nesta foto dispararam {fired}."
    )


ACTIVATION_RULES = {
    "relu": "a ReLU, max(0; z): dispara quando z passa de 0",
    "tanh": "a tangente hiperbólica, tanh(z): dispara quando o resultado é positivo",
    "logistic": "a sigmoide, 1 ÷ (1 + e^(−z)): dispara quando o resultado chega a 0,5",
}
ACTIVATION_FORMULAS = {"relu": "max(0; z)", "tanh": "tanh(z)", "logistic": "σ(z)"}


def _factor(value: float, decimals: int) -> str:
    """A factor of a product, in parentheses when negative: 3,92 × (-0,058)."""
    text = num(value, decimals)
    return f"({text})" if value < 0 else text


def _neuron(ex: Explanation, plan: Sequence[Section]) -> str:
    n, s = ex.neuron, ex.scaling
    n_features = ex.n_features
    terms = " + ".join(f"{_factor(t.x, 2)} × {_factor(t.w, 3)}" for t in n.terms)
    formula = ACTIVATION_FORMULAS.get(ex.activation, "f(z)")
    result = "Disparou! ✅" if n.fired else "Ficou quieto."
    return (
        f"🔎 De perto: o neurônio nº {integer(n.index)} da 1ª camada (circulado no desenho), o que mais empurrou "
        f"para {ex.mlp_label}. Cada característica entra padronizada: x = (valor − média do treino) ÷ desvio. "
        f"A de nº {integer(s.index)} valia {num(s.raw)}; média {num(s.mean)}, desvio {num(s.scale)}: "
        f"x = {num(s.x)}. A conta é z = x{subscript(1)}·w{subscript(1)} + … + "
        f"x{subscript(n_features)}·w{subscript(n_features)} + b (b, o viés, é um número que o neurônio soma "
        f"sempre). Os {len(n.terms)} termos que mais pesam: z = {terms} + (outros {integer(n.n_rest)}: {num(n.rest)}) "
        f"+ ({num(n.bias, 3)}) = {num(n.z)}. {formula} = {num(n.activation)}. {result}"
    )


def _output(ex: Explanation, plan: Sequence[Section]) -> str:
    out = ex.output
    p_cat = out.calibrated
    sign = "+" if out.offset >= 0 else "−"
    calibrated = f"P(gato) = σ({num(out.slope, 3)} × z {sign} {num(abs(out.offset), 3)}) = {chance_pct(p_cat)}"
    if ex.case is Case.NEITHER:
        return (
            "🚫 E a parte que eu treinei, a MLP? Ela só conhece gato e cachorro e responderia uma das duas para "
            f"qualquer foto: aqui, o z dela deu {num(out.z)} e ela diria {ex.mlp_label}, com P(gato) de "
            f"{chance_pct(p_cat)} (já calibrada). Por isso a parte pré-treinada decide antes. E não mostro o mapa "
            "de gato contra cachorro: ele mediria evidência de gato contra cachorro numa foto sem nenhum dos dois."
        )
    rest = "" if ex.mlp_label == "gato" else f" Cachorro é o resto: 1 − P(gato) = {chance_pct(1 - p_cat)}."
    if (out.sigmoid >= 0.5) != (p_cat >= 0.5):  # z between 0 and the border: the two disagree, say which counts
        rest += f" Sem calibrar, {people_prob(out.sigmoid)} cairia do outro lado: vale a calibrada."
    bias = "" if Section.NEURON in plan else " (O viés é um número que o neurônio soma sempre.)"
    return (
        f"🎯 No fim, um só neurônio de saída junta os {integer(out.from_layer_size)} valores da última camada: "
        f"soma ponderada {num(out.weighted_sum)} + viés ({num(out.bias)}) = z = {num(out.z)}.{bias} A sigmoide "
        f"espreme z entre 0 e 1: σ({num(out.z)}) = {people_prob(out.sigmoid)}. Depois eu calibro com as fotos "
        'de validação (fora do treino dos pesos; calibrar é ajustar a escala para que "80%" '
        f"acerte 8 de cada 10): {calibrated}. A resposta sai dessa chance calibrada: de 50% para cima é gato "
        f"(z acima de {num(out.border)}); abaixo, cachorro.{rest}"
    )


def _training(ex: Explanation, plan: Sequence[Section]) -> str:
    t = ex.training
    counts = t.train_counts
    parts = ["📚 De onde vieram os pesos? Do treino."]
    if ex.initial_probability is not None:
        parts.append(
            f"A MLP começou com pesos sorteados: antes do treino, ela dava a esta foto P(gato) = "
            f"{num(ex.initial_probability)}, um chute."
        )
    split = (
        f"{integer(counts.gato)} de cada"
        if counts.gato == counts.cachorro
        else f"{integer(counts.gato)} de gato e {integer(counts.cachorro)} de cachorro"
    )
    batches = (
        f"em lotes de {integer(t.batch_size)} ({integer(t.batches_per_epoch or 0)} passos por época)"
        if t.batch_size
        else "em pequenos lotes"
    )
    optimizer = f"o {t.optimizer.capitalize()}" if t.optimizer else "a descida do gradiente"
    parts.append(
        f"Foram {integer(t.epochs)} épocas (passadas pelas {integer(counts.total)} fotos de treino, {split}), "
        f"{batches}. Em cada lote, o erro de todas as fotos conta, certas e erradas: a retropropagação calcula "
        f"de trás para frente para que lado cada um dos {integer(ex.n_weights)} pesos e vieses deve andar (o "
        f"gradiente, uma bússola), e {optimizer} dá um passinho."
    )
    if t.held_out is not None:
        n, right = t.held_out
        parts.append(
            f"Em {integer(n)} fotos guardadas só para a prova (nem treino nem calibração), acertei {pct(right / n)}."
        )
    else:
        parts.append(f"Nas {integer(ex.val_n)} fotos de validação, acertei {pct(ex.val_accuracy)}.")
    return " ".join(parts)


def _retrain(ex: Explanation, plan: Sequence[Section]) -> str:
    c = ex.correction
    assert c is not None
    if c.label == NEITHER:
        return (
            '🔁 E um novo treino? Quem decide "nem gato nem cachorro" é a parte pré-treinada, que aqui deu '
            f"{pct(ex.pet_mass)} somando as raças (o limite é {pct(ex.neither_threshold)}), e ela não muda no "
            "treino. A sua foto entra na conta de quantas fotos sem gato nem cachorro eu reconheço, mas não "
            "muda a MLP, que só conhece gato e cachorro."
        )
    if ex.label == NEITHER:
        return (
            '🔁 E um novo treino? Quem disse "nem gato nem cachorro" foi a parte pré-treinada: deu só '
            f"{pct(ex.pet_mass)} somando as raças, abaixo do limite de {pct(ex.neither_threshold)}. Ela não muda "
            f"no treino. Já a minha MLP, sozinha, diria {ex.mlp_label} (z = {num(ex.output.z)})."
        )
    assert c.photo_loss is not None and c.z_to_cross is not None
    p_right = ex.output.sigmoid if c.label == "gato" else 1 - ex.output.sigmoid
    ratio = c.photo_loss / c.val_loss if c.val_loss > 0 else 0.0
    direction = "subir" if c.label == "gato" else "descer"
    return (
        f"🔁 E se eu for retreinado com a sua correção? Com o rótulo {c.label}, meu erro nesta foto (log-loss: "
        f"−ln da chance que dei ao certo, antes de calibrar: {people_prob(p_right)}) é {num(c.photo_loss)}; nas "
        "fotos de validação, "
        f"o erro médio é {num(c.val_loss, 4)}: esta foto erra {integer(round(ratio))} vezes mais. No retreino ela "
        f"entra num dos lotes, e como todo erro conta, puxa os pesos para fazer z {direction}: para eu acertar, "
        f"z precisa {direction} de {num(ex.output.z)} até passar de {num(ex.output.border)}. Não dá "
        f"para garantir: é 1 foto entre {integer(ex.training.train_counts.total + 1)}."
    )


def _office(ex: Explanation, plan: Sequence[Section]) -> str:
    layers = ex.layers
    staff = f"os supervisores (1ª camada oculta, {integer(layers[0].size)})"
    if len(layers) >= 2:
        staff += f" e os gerentes (2ª, {integer(layers[1].size)})"
    frozen = " Eles vieram treinados de outra empresa e não mudaram aqui." if ex.training.backbone_frozen else ""
    return (
        "🏢 Pense num escritório. Os funcionários (a parte pré-treinada) olham os pixels e preenchem as "
        f"{integer(ex.n_features)} características.{frozen} Depois {staff} leem essas características, e a "
        "diretora (o neurônio de saída) bate o martelo. No treino, o erro de cada lote voltou de trás para frente "
        "como uma bronca, e cada um da MLP ajustou seus pesos para errar menos."
    )


def _limits(ex: Explanation, plan: Sequence[Section]) -> str:
    return (
        "⚠️ Um limite honesto: eu só aprendi a separar gatos de cachorros. Não sei raça, nome nem idade, e não "
        "entendo a foto como você: vejo padrões em números. Por isso, antes de responder, confiro com a parte "
        "pré-treinada se há gato ou cachorro na foto. Uma foto estranha (um desenho, um bicho de pelúcia) ainda "
        "pode me enganar com toda a confiança."
    )


def _experiments(ex: Explanation, plan: Sequence[Section]) -> str:
    assert ex.strongest is not None
    return (
        f"🧪 E se...? Dá para testar de verdade: tapar o pedaço que mais empurrou para {ex.mlp_label} "
        f"({place(ex.strongest)}), trocando os números dele pelos da foto média, e rodar a rede de novo; ou tapar "
        "todo o resto e deixar só ele."
    )


Writer = Callable[[Explanation, Sequence[Section]], str]

# The path of the seed thread for each case; shorter where the case needs less.
PLANS: dict[Case, tuple[Section, ...]] = {
    Case.CONFIDENT: (
        Section.OPENING,
        Section.PIXELS,
        Section.PRETRAINED,
        Section.HEATMAP,
        Section.LAYERS,
        Section.NEURON,
        Section.OUTPUT,
        Section.TRAINING,
        Section.OFFICE,
        Section.LIMITS,
        Section.EXPERIMENTS,
    ),
    Case.DOUBTFUL: (
        Section.OPENING,
        Section.PIXELS,
        Section.PRETRAINED,
        Section.HEATMAP,
        Section.LAYERS,
        Section.NEURON,
        Section.OUTPUT,
        Section.TRAINING,
        Section.LIMITS,
        Section.EXPERIMENTS,
    ),
    Case.WRONG: (
        Section.OPENING,
        Section.PIXELS,
        Section.PRETRAINED,
        Section.HEATMAP,
        Section.LAYERS,
        Section.OUTPUT,
        Section.RETRAIN,
        Section.TRAINING,
        Section.EXPERIMENTS,
    ),
    Case.NEITHER: (Section.OVERRIDE, Section.PIXELS, Section.PRETRAINED, Section.OUTPUT, Section.LIMITS),
}

WRITERS: dict[Section, Writer] = {
    Section.OPENING: _opening,
    Section.OVERRIDE: _override,
    Section.PIXELS: _pixels,
    Section.PRETRAINED: _pretrained,
    Section.HEATMAP: _heatmap,
    Section.LAYERS: _layers,
    Section.NEURON: _neuron,
    Section.OUTPUT: _output,
    Section.TRAINING: _training,
    Section.RETRAIN: _retrain,
    Section.OFFICE: _office,
    Section.LIMITS: _limits,
    Section.EXPERIMENTS: _experiments,
}

PICTURES = {
    Section.HEATMAP: PictureKind.HEATMAP,
    Section.LAYERS: PictureKind.NETWORK,
    Section.TRAINING: PictureKind.CURVE,
}


def sections(ex: Explanation) -> list[Section]:
    """The sections this explanation gets: its case's plan, less what its numbers cannot support."""
    plan = list(PLANS[ex.case])
    if ex.attribution is None:  # no baseline in this model version, or a photo of neither
        plan = [s for s in plan if s not in (Section.HEATMAP, Section.EXPERIMENTS)]
    if not ex.experiments_offered and Section.EXPERIMENTS in plan:
        plan.remove(Section.EXPERIMENTS)
    return plan


def thread_posts(ex: Explanation) -> list[ThreadPost]:
    """The numbered /explicar thread for one explanation (at most 12 posts of at most 600 characters)."""
    plan = sections(ex)
    total = len(plan)
    return [
        ThreadPost(section, f"{i}/{total} {WRITERS[section](ex, plan)}", PICTURES.get(section))
        for i, section in enumerate(plan, 1)
    ]


def experiment_post(result: Experiment) -> ThreadPost:
    """The "E se...?" result: what was covered, how z moved, and what kind of change it was."""
    where = place(result.window)
    before, after = num(result.z_before), num(result.z_after)
    moved = "subiu" if result.z_after > result.z_before else "caiu"
    if result.kind is ExperimentKind.COVER:
        action = f"Tapei o pedaço {where} (o que mais empurrou para {result.towards})"
    else:
        action = f"Tapei tudo menos o pedaço {where} (o que mais empurrou para {result.towards})"
    verdict = (
        f"a resposta continua {result.label_after}."
        if result.label_after == result.label_before
        else f"a resposta virou {result.label_after}!"
    )
    text = (
        f"🧪 {action} e z {moved} de {before} para {after}: {chance_moved(result.p_cat_before, result.p_cat_after)}, "
        f"e {verdict} Tapar aqui é trocar, nos 7×7 quadradinhos de "
        "características, os números desses quadradinhos pelos da foto média do treino e rodar a MLP de verdade "
        "de novo; a foto em pixels não mudou. As cores são o novo mapa. O efeito não é a cor do pedaço: a rede "
        "não é uma soma simples."
    )
    return ThreadPost(Section.EXPERIMENT, text, PictureKind.EXPERIMENT)
