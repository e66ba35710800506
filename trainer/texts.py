"""Everything the trainer says to a person, in Brazilian Portuguese: its report, the model card, CLI help."""

from __future__ import annotations

from petnet.card import Metrics, ModelCard
from petnet.texts import describe_architecture, num, pct

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
        *neither_lines(card.neither),
        f"  faixa de dúvida: confiança calibrada abaixo de {pct(card.doubt_below, 0)}",
        f"  modelo {card.version} gravado em {out_dir}" + (" e colocado em serviço" if promoted else ""),
    ]
    return "\n".join(lines)


def neither_lines(neither: dict[str, object]) -> list[str]:
    """Report lines of the "nem gato nem cachorro" detector."""
    if not neither:
        return []
    threshold = float(neither.get("threshold", 0.0))  # type: ignore[arg-type]
    lines = [
        f"  'nenhum' quando a rede do ImageNet dá menos de {pct(threshold, 2)} a gatos e cachorros somados:"
        f" {pct(float(neither.get('val_rejected', 0.0)), 2)} das fotos de validação (pets) viram 'nenhum'"  # type: ignore[arg-type]
    ]
    if "others_rejected" in neither:
        lines.append(
            f"  em {neither.get('others_n')} fotos sem gato nem cachorro ({neither.get('others_dir')}):"
            f" {pct(float(neither['others_rejected']), 1)} respondidas 'nenhum'"  # type: ignore[arg-type]
        )
    return lines


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
{fx.get('dimensions', 1280)} características que a EfficientNet-Lite0 pré-treinada no ImageNet extrai de cada foto.
A saída da rede é um número entre 0 e 1: a partir de 0,5 a resposta é **gato**, abaixo disso **cachorro**.

- Arquitetura: {describe_architecture(card.hidden_layers, card.activation)}; regularização L2 alpha={card.alpha:g}
- Treino: {card.epochs} épocas de Adam (retropropagação + descida do gradiente)
- Calibração (Platt): P(gato) = sigmoide({num(card.calibration['slope'], 4)} · z {'−' if card.calibration['offset'] < 0 else '+'} {num(abs(card.calibration['offset']), 4)})
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

## Nem gato nem cachorro, e dúvida
{chr(10).join(line.strip() for line in neither_lines(card.neither))}

Limiar ajustado como o quantil de {pct(float(card.neither.get('val_reject_target', 0.0)), 1)} da massa de
probabilidade que a cabeça ImageNet da EfficientNet dá às 118 raças de cachorro e 5 gatos domésticos, nas
fotos de validação. Abaixo de {pct(card.doubt_below, 0)} de confiança calibrada o bot diz que está em dúvida.

## Limites
A rede só conhece gatos e cachorros parecidos com os das fotos de treino; desenhos, montagens e animais
parecidos (um lobo, uma raposa) ainda podem enganar os dois detectores.

## Checksums (sha256)
{checksums}
- backbone ONNX: `{fx.get('onnx_sha256')}`
- pesos originais: `{fx.get('weights_sha256')}`
"""


SPLIT_OWN = "pastas train/ e val/"


SPLIT_HOLDOUT = "validação estratificada de 20% (semente 0)"


def evaluate_report(
    version: str, folder: str, n: int, unreadable: int, metrics: object, neither_count: int,
    right_final: float, others: tuple[str, int, int] | None,
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
    "evaluate": "A acurácia do modelo em serviço numa pasta com gatos/ e cachorros/ (ex.: ../shared/data/pets/val).",
    "evaluate.folder": "pasta com gatos/ e cachorros/",
    "evaluate.outros": "fotos sem gato nem cachorro",
    "evaluate.models": "pasta de modelos (padrão: models/)",
}
