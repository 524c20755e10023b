"""The table of the original's examples the harness runs, and what is substituted in each.

Every example gets :data:`COMMON` (paths moved under the sandbox, one epoch, batches of two, a few steps). An
entry adds only what that example needs on top: command-line arguments it reads from ``sys.argv``, files it opens
relative to its own folder, an example to run first (a data-generation step), or an extra regex for a size.
Nothing in an example's logic is edited. ``skip`` says why an example is not run at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import data

# (pattern, replacement) applied to every .py file of the example's folder; {root} is the sandbox
COMMON: list[tuple[str, str]] = [
    (r"(['\"])[A-Z]:/Projects/", r"\1{root}/Projects/"),  # checkpoints and corpora
    (r"(['\"])[A-Z]:/Github/", r"\1{root}/Github/"),  # the author's other folders
    (r"\bepochs\s*=\s*\d+", "epochs=1"),
    (r"\bbatch_size\s*=\s*\d+", "batch_size=2"),
    (r"\bsteps_per_epoch\s*=\s*\d+", "steps_per_epoch=3"),
    (r"(?<![\w.\-])768(?![\w.])", "32"),  # the base models' hidden size, written out in heads: the tiny one's
]


@dataclass(frozen=True)
class Example:
    """One of the original's example scripts, as the harness runs it.

    Attributes:
        path: the script, relative to the original's ``examples/`` folder.
        argv: command-line arguments (for scripts that read ``sys.argv``).
        subs: extra ``(pattern, replacement)`` pairs, sizes only.
        files: files the script opens relative to its own folder: relative path -> writer(path).
        setup: a script of the same folder to run first (it writes what this one reads).
        prelude: Python code run first in the example's folder, for a file the user makes by hand.
        skip: why the example is not run (it needs something outside the library that cannot be stood in).
        original_fails: why the example fails on the original too, when its own code does (shown in the table;
            such an example does not count against this library).
    """

    path: str
    argv: tuple[str, ...] = ()
    subs: tuple[tuple[str, str], ...] = ()
    files: dict[str, Callable[[Path], None]] = field(default_factory=dict)
    setup: str | None = None
    prelude: str | None = None
    skip: str | None = None
    original_fails: str | None = None

    @property
    def name(self) -> str:
        return self.path.removesuffix(".py")


def _basic(name: str, **kw) -> Example:
    return Example(f"basic/{name}.py", **kw)


SIMILARITY = {"../datasets/data_similarity.json": data.similarity_json}
UNSUP = ("BERT", "cls", "ATEC", "0.3")
SAVE_TEACHER = "from task_sentence_embedding_sup_CosineMSELoss import model; model.save_weights('best_model.pt')"  # model_type, pooling, task_name, dropout_rate

EXAMPLES: list[Example] = [
    # basic: build a model on a checkpoint and run it once
    _basic("basic_extract_features"),
    _basic("basic_gibbs_sampling_via_mlm", subs=((r"iter_nums\s*=\s*\d+", "iter_nums=3"),)),
    _basic("basic_language_model_CDial_GPT"),
    _basic("basic_language_model_GAU_alpha"),
    _basic("basic_language_model_bart"),
    _basic("basic_language_model_bert"),
    _basic("basic_language_model_cpm_lm"),
    _basic("basic_language_model_deberta_v2"),
    _basic("basic_language_model_ernie"),
    _basic("basic_language_model_gpt2_ml"),
    _basic("basic_language_model_nezha_gen_gpt"),
    _basic("basic_language_model_nezha_gpt_dialog"),
    _basic("basic_language_model_roformer"),
    _basic("basic_language_model_simbert"),
    _basic("basic_language_model_t5_pegasus"),
    _basic("basic_language_model_transformer_xl",
           skip="its first half runs transformers' TransfoXL, which transformers 5 no longer has"),
    _basic("basic_language_model_uer_t5"),
    _basic("basic_language_model_xlnet"),
    _basic("basic_make_uncased_model_cased"),
    _basic("basic_test_parallel_apply"),
    _basic("basic_test_tokenizer"),
    # sentence classification
    *[Example(f"sentence_classfication/{n}.py") for n in (
        "task_sentence_similarity_lcqmc", "task_sentiment_classification", "task_sentiment_classification_GAU_alpha",
        "task_sentiment_classification_PET",
        "task_sentiment_classification_albert", "task_sentiment_classification_deberta_v2",
        "task_sentiment_classification_electra", "task_sentiment_classification_hierarchical_position",
        "task_sentiment_classification_nezha", "task_sentiment_classification_roformer",
        "task_sentiment_classification_roformer_v2", "task_sentiment_classification_xlnet")],
    Example("sentence_classfication/task_sentiment_classification_P_tuning.py",
            subs=((r"train_frac\s*=\s*0\.01", "train_frac = 0.5"),)),  # 1% of a dozen lines is none
    # sequence labeling
    *[Example(f"sequence_labeling/task_sequence_labeling_ner_{n}.py") for n in (
        "CNN_Nested_NER", "W2NER", "cascade_crf", "crf", "crf_add_posseg", "crf_freeze", "efficient_global_pointer",
        "global_pointer", "mrc", "span", "tplinker_plus")],
    # relation extraction
    *[Example(f"relation_extraction/task_relation_extraction_{n}.py") for n in (
        "CasRel", "CasRel_VAT", "gplinker", "tplinker", "tplinker_plus")],
    # sentence embedding
    *[Example(f"sentence_embedding/task_sentence_embedding_{n}.py") for n in (
        "sup_CoSENT", "sup_ContrastiveLoss", "sup_CosineMSELoss",
        "sup_InfoNCE", "sup_concat_CrossEntropyLoss", "unsup_DiffCSE", "unsup_bert_whitening")],
    # these two load the weights the CosineMSELoss example trains and saves (its save line is commented out in the
    # release: the user saves them)
    Example("sentence_embedding/task_sentence_embedding_DimensionalityReduction.py", prelude=SAVE_TEACHER,
            subs=((r"new_dimension\s*=\s*\d+", "new_dimension = 8"),)),  # PCA needs it <= the tiny hidden size
    Example("sentence_embedding/task_sentence_embedding_model_distillation.py", prelude=SAVE_TEACHER),
    *[Example(f"sentence_embedding/task_sentence_embedding_unsup_{n}.py", argv=UNSUP) for n in (
        "CT", "CT_In-Batch_Negatives", "ESimCSE", "SimCSE", "TSDAE")],
    Example("sentence_embedding/task_sentence_embedding_unsup_PromptBert.py", argv=("BERT", "ATEC", "0.3")),
    # seq2seq
    *[Example(f"seq2seq/{n}.py") for n in (
        "task_question_answer_generation_by_seq2seq", "task_reading_comprehension_by_mlm",
        "task_reading_comprehension_by_seq2seq", "task_seq2seq_ape210k_math_word_problem", "task_seq2seq_autotitle",
        "task_seq2seq_autotitle_csl_bart", "task_seq2seq_autotitle_csl_mt5", "task_seq2seq_autotitle_csl_t5_pegasus",
        "task_seq2seq_autotitle_csl_uer_t5", "task_seq2seq_autotitle_csl_unilm")],
    Example("seq2seq/task_kgclue_seq2seq.py", files={"../datasets/.keep": lambda p: p.touch()},
            original_fails="after fit it loads './best_model.weights', whose save line is commented out"),
    Example("seq2seq/task_seq2seq_simbert.py", files=SIMILARITY),
    # training tricks
    *[Example(f"training_trick/{n}.py") for n in (
        "task_amp", "task_data_parallel", "task_sentiment_R-Drop", "task_sentiment_TemporalEnsembling",
        "task_sentiment_UDA", "task_sentiment_adversarial_training", "task_sentiment_exponential_moving_average",
        "task_sentiment_exponential_moving_average_warmup", "task_sentiment_mixup")],
    Example("training_trick/task_sentiment_virtual_adversarial_training.py",
            original_fails="its evaluate() passes [ids_row] to a forward(token_ids) that wraps it in a list again: "
                           "bert([[ids]]) reads a list where token ids go (the original's apply_embeddings calls "
                           "token_ids.requires_grad on it)"),
    Example("training_trick/task_distributed_data_parallel.py",
            skip="needs CUDA devices and NCCL (torch.distributed.init_process_group(backend='nccl'))"),
    # others
    Example("others/task_conditional_language_model.py"),
    Example("others/task_iflytek_bert_of_theseus.py"),
    Example("others/task_language_model.py"),
    Example("others/task_language_model_chinese_chess.py",
            skip="needs the cchess package and plays against a human on stdin"),
    Example("others/task_nl2sql_baseline.py", skip="needs the NL2SQL tables and SQL files, which have no stand-in"),
    # pretraining
    Example("pretrain/roberta_pretrain/pretrain_roberta_mlm.py",
            skip="its data comes from pretrain_roberta_mlm_data_gen.py, a generator daemon that never exits "
                 "(it sleeps 300 s between checks)"),
    Example("pretrain/simbert_v2_pretrain/simbert_v2_stage1.py", files=SIMILARITY),
    Example("pretrain/simbert_v2_pretrain/simbert_v2_stage2.py", files=SIMILARITY),
    Example("pretrain/simbert_v2_pretrain/simbert_v2_supervised.py"),
    # tutorials
    Example("tutorials/tutorials_custom_fit_progress.py"),
    Example("tutorials/tutorials_load_transformers_model.py"),
    Example("tutorials/tutorials_small_tips.py"),
]

# A representative subset for the test suite: one example per subject, and the original's own calls of the trainer
# that issue 9 names (forward(self, inputs), loss-dict metrics, bti, ListDataset kwargs, ProgbarLogger).
REPRESENTATIVE = [
    "sentence_classfication/task_sentiment_classification",
    "sentence_classfication/task_sentiment_classification_PET",  # ListDataset(**kwargs) read as self.kwargs
    "sequence_labeling/task_sequence_labeling_ner_cascade_crf",  # forward(self, inputs) gets the list whole
    "relation_extraction/task_relation_extraction_CasRel",  # forward(self, inputs)
    "sentence_embedding/task_sentence_embedding_unsup_SimCSE",  # forward(self, token_ids_list)
    "sentence_embedding/task_sentence_embedding_sup_InfoNCE",
    "seq2seq/task_seq2seq_autotitle_csl_unilm",
    "training_trick/task_sentiment_adversarial_training",
    "training_trick/task_sentiment_TemporalEnsembling",  # model.bti inside the loss
    "training_trick/task_sentiment_UDA",  # metrics=['loss_sup', 'loss_unsup'] from the loss's dict
    "others/task_conditional_language_model",  # forward(self, inputs)
    "pretrain/simbert_v2_pretrain/simbert_v2_supervised",  # metrics its loss does not return
    "tutorials/tutorials_custom_fit_progress",  # bert4torch.snippets.ProgbarLogger
]

BY_NAME = {e.name: e for e in EXAMPLES}
