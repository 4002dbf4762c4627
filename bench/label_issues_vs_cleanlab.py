#!/usr/bin/env python3
"""rmdnet's label-issue report against cleanlab's find_label_issues, on the same inputs.

cleanlab needs out-of-sample predicted probabilities; here they come from the same teacher
embeddings rmdnet used (the relations artifact's embeddings.parquet): a similarity-weighted
kNN vote of the K nearest training images' given labels (cosine, self excluded, weights
exp((s - s_max) / 0.1)), the evidence rmdnet's score is built from, for each K asked for.
Both tools are scored against the clean labels stored in the label-issue artifact (it has
them only for synthetic noise or CIFAR-10N). Prints one Markdown table.

With --train-predictions (the classifier's `rmd predict --split train` output, for an
artifact made with --classifier), cleanlab also gets rmdnet's mixed evidence:
(1 - w) * kNN(K of the artifact's graph) + w * classifier probabilities.

Usage:
  python3 bench/label_issues_vs_cleanlab.py --store data/artifacts --label-issues KEY [--k 10,30]
      [--train-predictions FILE.parquet]

Needs numpy, pyarrow and cleanlab (pip install cleanlab==2.9.0); optional tools, not
dependencies of rmdnet.
"""
import argparse
import glob
import json
import os
import time

import numpy as np
import pyarrow.parquet as pq


def artifact_dir(store, stage, prefix):
    hits = [d for d in glob.glob(os.path.join(store, stage, prefix + "*")) if os.path.isdir(d)]
    if len(hits) != 1:
        raise SystemExit(f"{stage} artifact {prefix!r}: {len(hits)} matches in {store}")
    return hits[0]


def roc_auc(score, positive):
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    s = score[order]
    i = 0
    while i < len(s):  # average ranks over ties
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    p = positive.sum()
    return (ranks[positive].sum() - p * (p + 1) / 2) / (p * (len(score) - p))


def knn_votes(emb, labels, classes, ks, tau=0.1, block=2048):
    """Weighted kNN class distributions for each K in ks (one exact search for max K)."""
    kmax = max(ks)
    n = len(emb)
    idx = np.empty((n, kmax), np.int64)
    sim = np.empty((n, kmax), np.float32)
    for b in range(0, n, block):
        s = emb[b:b + block] @ emb.T
        s[np.arange(len(s)), np.arange(b, b + len(s))] = -np.inf
        part = np.argpartition(-s, kmax, axis=1)[:, :kmax]
        ps = np.take_along_axis(s, part, 1)
        o = np.argsort(-ps, axis=1, kind="stable")
        idx[b:b + block] = np.take_along_axis(part, o, 1)
        sim[b:b + block] = np.take_along_axis(ps, o, 1)
    out = {}
    for k in ks:
        w = np.exp((sim[:, :k] - sim[:, :1]) / tau)
        p = np.zeros((n, classes))
        np.add.at(p, (np.repeat(np.arange(n), k), labels[idx[:, :k]].ravel()), w.ravel())
        out[k] = p / p.sum(1, keepdims=True)
    return out


def quality(flagged, score, wrong):
    hits = (flagged & wrong).sum()
    precision = hits / max(flagged.sum(), 1)
    recall = hits / wrong.sum()
    f1 = 2 * precision * recall / max(precision + recall, 1e-12)
    return flagged.sum(), precision, recall, f1, roc_auc(score, wrong)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--store", default="data/artifacts")
    ap.add_argument("--label-issues", required=True, help="key (prefix) of an rmd label-issues artifact")
    ap.add_argument("--k", default="10,30", help="comma-separated K values for cleanlab's kNN probabilities")
    ap.add_argument("--train-predictions", help="rmd predict --split train output of the artifact's classifier")
    a = ap.parse_args()
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    li_dir = artifact_dir(a.store, "label-issues", a.label_issues)
    manifest = json.load(open(os.path.join(li_dir, "manifest.json")))
    t = pq.read_table(os.path.join(li_dir, "label_issues.parquet")).to_pandas().sort_values("index")
    if "is_wrong" not in t:
        raise SystemExit("the label-issue artifact has no clean labels to compare against")
    given = t.given_label.to_numpy().astype(np.int64)
    wrong = t.is_wrong.to_numpy()
    classes = int(max(given.max(), t.suggested_label.max()) + 1)
    rel_dir = artifact_dir(a.store, "relations", manifest["inputs"]["relations"])
    emb = np.stack(pq.read_table(os.path.join(rel_dir, "embeddings.parquet")).column("embedding").to_numpy(
        zero_copy_only=False)).astype(np.float32)
    ks = sorted(set([int(k) for k in a.k.split(",")] + [int(manifest["metrics"]["k"])]))
    started = time.time()
    votes = knn_votes(emb, given, classes, ks)
    knn_s = time.time() - started

    evidence = manifest["metrics"]["evidence"]
    rows = [("rmdnet label-issues", f"{evidence}, K={manifest['metrics']['k']}",
             *quality(t.flagged.to_numpy(), t.score.to_numpy(), wrong))]
    for k in ks:
        p = votes[k]
        started = time.time()
        flags = find_label_issues(given, p)  # default: prune_by_noise_rate
        score = 1 - get_label_quality_scores(given, p)  # self-confidence
        rows.append((f"cleanlab {__import__('cleanlab').__version__} find_label_issues", f"kNN probabilities, K={k}",
                     *quality(flags, score, wrong)))
    if a.train_predictions:
        w = manifest["params"].get("classifier_weight")
        if w is None:
            raise SystemExit("--train-predictions needs a label-issue artifact made with --classifier")
        pr = pq.read_table(a.train_predictions).to_pandas().sort_values("index")
        clf = np.stack(pr.probabilities.to_numpy()).astype(np.float64)
        p = (1 - w) * votes[int(manifest["metrics"]["k"])] + w * clf
        flags = find_label_issues(given, p)
        score = 1 - get_label_quality_scores(given, p)
        rows.append((f"cleanlab {__import__('cleanlab').__version__} find_label_issues",
                     f"rmdnet's evidence (kNN K={manifest['metrics']['k']} + classifier, w={w})",
                     *quality(flags, score, wrong)))
    print(f"{len(given)} training labels, {wrong.sum()} wrong ({wrong.mean():.1%}); "
          f"label-issue artifact {manifest['key'][:12]}, relations {manifest['inputs']['relations'][:12]}; "
          f"kNN search {knn_s:.0f} s\n")
    print("| tool | evidence | flagged | precision | recall | F1 | ROC-AUC of the score |")
    print("|---|---|---|---|---|---|---|")
    for tool, ev, n, pr, rc, f1, auc in rows:
        print(f"| {tool} | {ev} | {n} | {pr:.4f} | {rc:.4f} | {f1:.4f} | {auc:.4f} |")


if __name__ == "__main__":
    main()
