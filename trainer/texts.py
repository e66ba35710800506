"""Everything the trainer says to a person, in Brazilian Portuguese: its report, the model card, CLI help."""

from __future__ import annotations

from typing import TYPE_CHECKING

from petnet.card import AnswerComparison, BaseStatus, CorrectionsCheck, DataStory, GateDecision, Metrics, ModelCard
from petnet.texts import describe_architecture, integer, num, pct

if TYPE_CHECKING:
    from trainer.retrain import RetrainReport

TRAIN_STAGES = {
    "scan": "Verificando as fotos",
    "features": "Extraindo características",
    "fit": "Treinando a rede (MLP)",
    "validate": "Validando e exportando",
    "compare": "Comparando com o modelo atual",
}

ANSWER_PLURALS = {"gato": "gatos", "cachorro": "cachorros", "nenhum": "nenhum", "total": "total"}


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

    assert isinstance(card, ModelCard)
    val = card.val
    parity_n = card.train_counts.total + card.val_counts.total
    lines = [
        "",
        "Resumo do treino",
        f"  dados: {card.data_dir or '(nenhuma pasta)'} ({card.split})",
        *(f"  {line}" for line in data_story_lines(card.data)),
        f"  treino: {integer(card.train_counts.gato)} gatos + {integer(card.train_counts.cachorro)} cachorros;"
        f" validação (escolha e calibração): {integer(card.val_counts.gato)} gatos +"
        f" {integer(card.val_counts.cachorro)} cachorros",
        f"  fotos ilegíveis ignoradas: {len(card.unreadable)}",
        f"  características extraídas agora: {extracted_new} (o resto veio do cache ou da memória do modelo)",
        f"  rede escolhida: {describe_architecture(card.hidden_layers, card.activation)},"
        f" {card.epochs} épocas de Adam em mini-lotes de {card.batch_size} fotos",
        f"  acurácia na validação: {pct(val.accuracy, 2)}"
        f" (gatos {pct(val.accuracy_gato, 2)}, cachorros {pct(val.accuracy_cachorro, 2)})",
        *_confusion_lines(val.confusion),
        f"  erro de calibração (ECE): {num(val.ece, 4)} (antes da calibração: {num(card.raw_val.ece, 4)})",
        f"  ONNX e scikit-learn concordam em todas as {integer(parity_n)} fotos de treino e validação"
        f" (maior diferença: {card.extra.get('parity_max_diff', 0):.1e})",
        *neither_lines(card.neither),
        f"  faixa de dúvida: confiança calibrada abaixo de {pct(card.doubt_below, 0)}",
        *(f"  {line}" for line in gate_lines(card)),
        f"  modelo {card.version} gravado em {out_dir}" + (" e colocado em serviço" if promoted else ""),
    ]
    return "\n".join(lines)


def _threshold_photos(neither: dict[str, object]) -> str:
    return "treino e validação" if neither.get("fitted_on") == "train+select pets" else "validação"


def neither_lines(neither: dict[str, object]) -> list[str]:
    """Report lines of the "nem gato nem cachorro" detector."""
    if not neither:
        return []
    threshold = float(neither.get("threshold", 0.0))  # type: ignore[arg-type]
    lines = [
        f"  'nenhum' quando a rede do ImageNet dá menos de {pct(threshold, 2)} a gatos e cachorros somados:"
        f" {pct(float(neither.get('val_rejected', 0.0)), 2)} das fotos de {_threshold_photos(neither)} (pets)"  # type: ignore[arg-type]
        " viram 'nenhum'"
    ]
    if "others_rejected" in neither:
        lines.append(
            f"  em {neither.get('others_n')} fotos sem gato nem cachorro ({neither.get('others_dir')}):"
            f" {pct(float(neither['others_rejected']), 1)} respondidas 'nenhum'"  # type: ignore[arg-type]
        )
    return lines


def _points(value: float) -> str:
    """A difference of accuracies in percentage points, always signed: +0,2 / −1,4."""
    return ("+" if value >= 0 else "−") + num(abs(100 * value), 1)


def _interval(a: AnswerComparison) -> str:
    """The paired 95% interval of (new - old), or that no photo changed its answer."""
    if a.diff_low is None or a.diff_high is None:
        return ""
    if a.diff_low == a.diff_high == 0:
        return "nenhuma resposta mudou"
    return f"de {_points(a.diff_low)} a {_points(a.diff_high)} pontos"


def _before_after(a: AnswerComparison) -> str:
    if a.old_accuracy is None:
        return pct(a.new_accuracy, 1)
    return f"{pct(a.old_accuracy, 1)} → {pct(a.new_accuracy, 1)}"


BASE_WORDS = {
    BaseStatus.USED: "Memória",
    BaseStatus.FROM_SCRATCH: "Do zero, como pedido",
    BaseStatus.NO_MODEL: "Primeiro treino",
    BaseStatus.NO_MEMORY: "Só fotos novas (o modelo anterior não guardava as dele)",
    BaseStatus.OTHER_BACKBONE: "Só fotos novas (a memória do modelo anterior é de outro extrator)",
}


def _count(n: int, singular: str, plural: str) -> str:
    return f"{integer(n)} {singular if n == 1 else plural}"


def data_story_lines(story: DataStory | None) -> list[str]:
    """Where the photos came from, in one or two lines (report and retrain message)."""
    if story is None:
        return []
    origins = story.origins
    total = sum(origins.values())
    lines = [
        f"{BASE_WORDS[BaseStatus(story.base_status)]}: {_count(total, 'foto', 'fotos')} ="
        f" {integer(origins.get('base', 0))} da base + {integer(origins.get('data', 0))} da pasta"
        f" + {_count(origins.get('correction', 0), 'correção', 'correções')}"
    ]
    notes = [
        f"{label}: {integer(n)}"
        for label, n in (
            ("já conhecidas", story.already_known),
            ("repetidas na pasta", story.repeated),
            ("com rótulo trocado", story.relabelled),
            ("fora por estarem em duas pastas", len(story.conflicting)),
        )
        if n
    ]
    if notes:
        lines.append("; ".join(notes))
    return lines


DECISION_WORDS = {
    GateDecision.PROMOTE: "✅ Modelo novo {version} em serviço: não ficou pior nas fotos de prova.",
    GateDecision.PROMOTE_FIRST: "✅ Modelo {version} em serviço (não havia outro para comparar).",
    GateDecision.PROMOTE_FORCED: "⚠️ Modelo novo {version} em serviço porque você forçou. {why}",
    GateDecision.KEEP_WORSE: "❌ Mantive o modelo atual: o novo erra mais em {worse}, mais do que o acaso explica.",
    GateDecision.KEEP_TOO_SMALL: (
        "⏸️ Mantive o modelo atual: com {cats} gatos e {dogs} cachorros de prova não dá para saber se o novo"
        " é pior (preciso de {min} de cada)."
    ),
    GateDecision.KEEP_NOT_COMPARABLE: "⏸️ Mantive o modelo atual: ele usa outro extrator, não dá para comparar.",
}
VERDICT_WHY = {
    GateDecision.KEEP_WORSE: "A prova dizia que ele erra mais em {worse}.",
    GateDecision.KEEP_TOO_SMALL: "A prova tinha poucas fotos para comparar.",
    GateDecision.KEEP_NOT_COMPARABLE: "Não deu para comparar (outro extrator).",
}


def decision_line(
    decision: GateDecision,
    verdict: GateDecision,
    version: str,
    answers: list[AnswerComparison],
    worse_in: list[str],
    min_per_class: int,
) -> str:
    counts = {a.label: a.n for a in answers}
    worse = " e ".join(ANSWER_PLURALS.get(w, w) for w in worse_in) or "algumas respostas"
    fields = {
        "version": version,
        "worse": worse,
        "min": integer(min_per_class),
        "cats": integer(counts.get("gato", 0)),
        "dogs": integer(counts.get("cachorro", 0)),
    }
    why = VERDICT_WHY.get(verdict, "").format(**fields)
    return DECISION_WORDS[decision].format(why=why, **fields)


def corrections_line(check: CorrectionsCheck | None) -> str | None:
    if check is None:
        return None
    line = f"Correções aprovadas: o novo acerta {integer(check.new_right)} de {integer(check.n)}"
    if check.old_right is not None:
        line += f" (o anterior acertava {integer(check.old_right)})"
    return line + "."


def _comparison_lines(answers: list[AnswerComparison], eval_n: int, old_remembers: bool, has_old: bool) -> list[str]:
    if not has_old:
        header = f"Prova: {integer(eval_n)} fotos que ele não usou para treinar ou calibrar:"
    elif old_remembers:
        header = f"Prova: {integer(eval_n)} fotos que nenhum dos dois usou para treinar ou calibrar (antes → agora):"
    else:
        header = (
            f"Prova: {integer(eval_n)} fotos que o novo não usou para treinar ou calibrar"
            " (o anterior não guardou as dele), antes → agora:"
        )
    parts = [f"{ANSWER_PLURALS[a.label]} {_before_after(a)}" for a in answers if a.label != "total"]
    lines = [header, " · ".join(parts)]
    total = next(a for a in answers if a.label == "total")
    interval = _interval(total)
    if interval and total.diff_low == total.diff_high == 0:
        interval = f" ({interval})"
    elif interval:
        interval = f" (diferença {interval}, 95% de confiança)"
    lines.append(f"no total: {_before_after(total)}{interval}")
    return lines


def retrain_message(report: RetrainReport, force_hint: str = "") -> str:
    """The retrain's answer in the chat: decision, both models on the fixed set, the data, the corrections.

    ``force_hint`` (e.g. "Para usar mesmo assim: /retreinar forcar") is added when the old model stays.
    """
    first = decision_line(
        report.decision,
        report.verdict,
        report.version,
        list(report.answers),
        list(report.worse_in),
        report.min_per_class,
    )
    if not report.decision.promotes and force_hint:
        first += " " + force_hint
    has_old = report.decision is not GateDecision.PROMOTE_FIRST
    lines = [first, *_comparison_lines(list(report.answers), report.eval_n, report.old_remembers, has_old)]
    story = data_story_lines(report.data)
    lines.append("; ".join(story) + ".")
    corrections = corrections_line(report.corrections)
    if corrections:
        lines.append(corrections)
    return "\n".join(lines)


def gate_lines(card: ModelCard) -> list[str]:
    """The gate's figures for the trainer's summary and the card."""
    gate = card.gate
    if gate is None:
        return []
    decision, verdict = GateDecision(gate.decision), GateDecision(gate.verdict)
    has_old = decision is not GateDecision.PROMOTE_FIRST
    lines = [
        decision_line(decision, verdict, card.version, gate.answers, gate.worse_in, gate.min_per_class),
        *_comparison_lines(gate.answers, gate.eval_n, gate.old_remembers, has_old),
    ]
    corrections = corrections_line(card.corrections)
    return lines + ([corrections] if corrections else [])


def _training_md(card: ModelCard) -> str:
    curve = card.curve
    if card.batch_size is None or curve.first_epoch != 0:
        return f"- Treino: {card.epochs} épocas de Adam (retropropagação + descida do gradiente)"
    n = card.train_counts.total
    steps = -(-n // card.batch_size)
    return f"""- Otimizador: Adam (scikit-learn), taxa de aprendizado {num(card.learning_rate or 0.0, 4)},
  mini-lotes de {integer(card.batch_size)} fotos ({integer(steps)} passos por época; a cada passo o erro de
  todas as fotos do mini-lote conta, certas e erradas), regularização L2 alpha={card.alpha:g}
- Época 0 (pesos aleatórios iniciais, `head_initial.npz`): erro {num(curve.loss[0], 4)}, acurácia na
  validação {pct(curve.val_accuracy[0], 1)}; depois de {card.epochs} épocas: erro {num(curve.loss[-1], 4)},
  acurácia {pct(curve.val_accuracy[-1], 1)}
- Parou quando o erro de treino ou o erro na validação passou algumas épocas sem melhorar
- A EfficientNet-Lite0 ficou congelada: só a MLP aprendeu; o extrator veio pronto (ImageNet) e não mudou"""


def _data_md(card: ModelCard) -> str:
    story = card.data
    if story is None:
        return ""
    rows = "\n".join(
        f"| {role} | {integer(c.gato)} | {integer(c.cachorro)} | {integer(c.nenhum)} |"
        for role, c in (
            ("treino", story.roles["train"]),
            ("validação (escolha, calibração, limiar)", story.roles["select"]),
            ("prova (comparação com o modelo anterior)", story.roles["eval"]),
        )
    )
    conflicting = "".join(f"\n  - `{path}`" for path in story.conflicting)
    base = f"`{story.base_version}`" if story.base_version else "nenhuma"
    baseline = card.extra.get("baseline", {})
    return f"""
## De onde vieram as fotos
- Versão de base: {base} ({BASE_WORDS[BaseStatus(story.base_status)].lower()})
- Fotos: {integer(sum(story.origins.values()))} = {integer(story.origins.get("base", 0))} da base +
  {integer(story.origins.get("data", 0))} da pasta + {integer(story.origins.get("correction", 0))} correções
- Já conhecidas da base (mesmo rótulo): {integer(story.already_known)}; repetidas na pasta:
  {integer(story.repeated)}; rótulo trocado em relação à base: {integer(story.relabelled)};
  deixadas de fora por estarem em duas pastas: {integer(len(story.conflicting))}{conflicting}
- Correções aprovadas recebidas: {integer(story.corrections)}

| papel | gatos | cachorros | nenhum |
|---|---|---|---|
{rows}

`features.npz` ({num(story.features_file_bytes / 1e6, 1)} MB): as 1.280 características (float16) que a
EfficientNet-Lite0 extraiu de cada uma dessas fotos, a massa de gato+cachorro da cabeça ImageNet, o rótulo, o
papel, a origem e o sha256 do arquivo; nenhuma foto. O próximo retreino parte delas.

`baseline.npz` (a "foto média" das explicações): {baseline.get("rule", "?")}; representa
{integer(int(baseline.get("n_photos", 0)))} fotos de treino ({integer(int(baseline.get("base_photos", 0)))} da base,
{integer(int(baseline.get("new_training_photos", 0)))} novas, {integer(int(baseline.get("mapped_now", 0)))} mapas
calculados agora).
"""


def _gate_md(card: ModelCard) -> str:
    gate = card.gate
    if gate is None:
        return ""
    rows = "\n".join(
        f"| {ANSWER_PLURALS[a.label]} | {integer(a.n)} | "
        f"{pct(a.old_accuracy, 2) if a.old_accuracy is not None else '—'} | {pct(a.new_accuracy, 2)} | "
        f"{_interval(a) or '—'} |"
        for a in gate.answers
    )
    old = f"`{gate.old_version}`" if gate.old_version else "nenhum"
    corrections = corrections_line(card.corrections) or "Nenhuma correção aprovada neste treino."
    wrong = ", ".join(f"`{name}`" for name in card.corrections.still_wrong) if card.corrections else ""
    return f"""
## Prova: o modelo anterior ({old}) e este, nas mesmas fotos
{integer(gate.eval_n)} fotos que nenhum dos dois usou para treinar, escolher, calibrar ou ajustar o limiar;
resposta final (gato / cachorro / nenhum), cada modelo com a sua calibração e o seu limiar. Intervalo:
{gate.method}. São precisos {integer(gate.min_per_class)} gatos e {integer(gate.min_per_class)} cachorros
para perceber uma queda de 5 pontos numa classe.

| resposta | fotos | antes | agora | diferença (95%) |
|---|---|---|---|---|
{rows}

Decisão: {
        decision_line(
            GateDecision(gate.decision),
            GateDecision(gate.verdict),
            card.version,
            gate.answers,
            gate.worse_in,
            gate.min_per_class,
        )
    }

{corrections}{(" Ainda erradas: " + wrong + ".") if wrong else ""}
"""


def model_card_markdown(card: object) -> str:
    """MODEL_CARD.md: the human-readable half of the card."""

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
{fx.get("dimensions", 1280)} características que a EfficientNet-Lite0 pré-treinada no ImageNet extrai de cada foto.
A saída da rede, calibrada (veja abaixo), é um número entre 0 e 1: a partir de 0,5 a resposta é **gato**, abaixo disso **cachorro**.

- Arquitetura: {describe_architecture(card.hidden_layers, card.activation)}; regularização L2 alpha={card.alpha:g}
{_training_md(card)}
- Calibração (Platt): P(gato) = sigmoide({num(card.calibration["slope"], 4)} · z {"−" if card.calibration["offset"] < 0 else "+"} {num(abs(card.calibration["offset"]), 4)})
- Extrator de características: {fx.get("name")} ({fx.get("weights_package")}), recorte `{fx.get("crop")}`,
  entrada {fx.get("input_size")}x{fx.get("input_size")} com (x - 127) / 128

## Como foi produzido
- Comando: `{card.command}`
- Dados: `{card.data_dir}` ({card.split})
- Treino: {card.train_counts.gato} gatos + {card.train_counts.cachorro} cachorros
- Validação: {card.val_counts.gato} gatos + {card.val_counts.cachorro} cachorros
- Data: {card.created_at}
- Fotos ilegíveis ignoradas:
{unreadable}
{_data_md(card)}{_gate_md(card)}
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

## Nem gato nem cachorro, e dúvida
{chr(10).join(line.strip() for line in neither_lines(card.neither))}

Limiar ajustado como o quantil de {pct(float(card.neither.get("val_reject_target", 0.0)), 1)} da massa de
probabilidade que a cabeça ImageNet da EfficientNet dá às 118 raças de cachorro e 5 gatos domésticos, nas
fotos de {_threshold_photos(card.neither)} (a cabeça ImageNet não muda com o treino da MLP; as fotos de prova
ficam de fora). Abaixo de {pct(card.doubt_below, 0)} de confiança calibrada o bot diz que está em dúvida.

## Limites
A rede só conhece gatos e cachorros parecidos com os das fotos de treino; desenhos, montagens e animais
parecidos (um lobo, uma raposa) ainda podem enganar os dois detectores.

## Checksums (sha256)
{checksums}
- backbone ONNX: `{fx.get("onnx_sha256")}`
- pesos originais: `{fx.get("weights_sha256")}`
"""


SPLIT_BY_HASH = (
    "papéis fixos pelo sha256 de cada foto: train/ treina, val/ metade validação e metade prova;"
    " sem train/ e val/, 60% treino, 20% validação, 20% prova; 'nenhum' sempre prova"
)


def evaluate_report(
    version: str,
    folder: str,
    n: int,
    unreadable: int,
    metrics: object,
    neither_count: int,
    right_final: float,
    others: tuple[str, int, int] | None,
) -> str:
    """``python -m trainer.evaluate``: the classifier's accuracy, wrong "nenhum"s and the other/ figure."""

    assert isinstance(metrics, Metrics)
    _, dc = metrics.confusion[0]
    cd, _ = metrics.confusion[1]
    lines = [
        f"modelo {version} em {folder}: {n} fotos ({unreadable} ilegíveis)",
        f"acurácia da MLP (gato × cachorro): {pct(metrics.accuracy, 2)} ({metrics.n - dc - cd} de {metrics.n})",
        f"  gatos: {pct(metrics.accuracy_gato, 2)}  cachorros: {pct(metrics.accuracy_cachorro, 2)}",
        f"  erros: {cd} gatos chamados de cachorro, {dc} cachorros chamados de gato",
        f"respondidas 'nenhum' por engano: {pct(neither_count / max(1, n), 2)} ({neither_count} de {n})",
        f"resposta final certa (gato/cachorro/nenhum): {pct(right_final, 2)}",
    ]
    if others is not None:
        name, hits, total = others
        lines.append(f"em {name}: {pct(hits / max(1, total), 1)} respondidas 'nenhum' ({hits} de {total})")
    return "\n".join(lines)


CLI_HELP = {
    "trainer": "Treina a rede 'gato ou cachorro?'.",
    "trainer.data_dir": "pasta com gatos/ e cachorros/ (ou train/ e val/)",
    "trainer.out": "pasta de modelos (padrão: models/)",
    "trainer.cache_dir": "cache do backbone e das características",
    "trainer.outros": "pasta de fotos sem gato nem cachorro, para medir o 'nenhum'",
    "trainer.no_promote": "grava a versão sem colocá-la em serviço",
    "trainer.sem_base": "começa do zero: não parte das características guardadas pelo modelo atual",
    "trainer.forcar": "coloca em serviço mesmo que a prova não mostre que o novo não é pior",
    "evaluate": "A acurácia do modelo em serviço numa pasta com gatos/ e cachorros/ (ex.: ../shared/data/pets/val).",
    "evaluate.folder": "pasta com gatos/ e cachorros/",
    "evaluate.outros": "fotos sem gato nem cachorro",
    "evaluate.models": "pasta de modelos (padrão: models/)",
}
