# The seed tutorial (torch-rechub's DIN docs, shared/seed/DIN_tutorial.txt), as written, with
# `din_tutorial` in place of `torch_rechub` in the imports and the bundled data's path.
# tests/test_seed_tutorial.py runs it in a fresh folder; it must run top to bottom.
import pandas as pd
import torch
from din_tutorial import SparseFeature, SequenceFeature
from din_tutorial import DataGenerator, df_to_dict, generate_seq_feature
# Load data
data = pd.read_csv("DATA_PATH")
# Automatically generate historical sequence features ordered by time.
train, val, test = generate_seq_feature(
    data=data,
    user_col="user_id",
    item_col="item_id",
    time_col="timestamp",
    item_attribute_cols=["cate_id"],
    min_item=0,
    shuffle=True,
)
# Get vocabulary sizes used by sparse and sequence features.
user_num = data["user_id"].max() + 1
item_num = data["item_id"].max() + 1
cate_num = data["cate_id"].max() + 1
# 1. Base features (target item + user profile features)
# DIN pairs target features with history features, so the target item
# directly affects the attention output.
features = [
    SparseFeature("user_id", vocab_size=user_num, embed_dim=16),
    SparseFeature("gender", vocab_size=data["gender"].max() + 1, embed_dim=8),
    SparseFeature("age", vocab_size=data["age"].max() + 1, embed_dim=8),
    SparseFeature("occupation", vocab_size=data["occupation"].max() + 1, embed_dim=8),
    SparseFeature("zip", vocab_size=data["zip"].max() + 1, embed_dim=8),
]
target_features = [
    SparseFeature("item_id", vocab_size=item_num, embed_dim=16),
    SparseFeature("cate_id", vocab_size=cate_num, embed_dim=16),
]
# 2. History sequence features
# `shared_with` must point to the corresponding target feature so they
# share the same embedding space.
history_features = [
    SequenceFeature("hist_item_id", vocab_size=item_num, embed_dim=16, pooling="concat", shared_with="item_id"),
    SequenceFeature("hist_cate_id", vocab_size=cate_num, embed_dim=16, pooling="concat", shared_with="cate_id"),
]
# Convert DataFrame objects into dict inputs accepted by the model.
x_train, y_train = df_to_dict(train), train["label"].values
x_val, y_val = df_to_dict(val), val["label"].values
x_test, y_test = df_to_dict(test), test["label"].values
dg = DataGenerator(x_train, y_train)
train_dl, val_dl, test_dl = dg.generate_dataloader(
    x_val=x_val,
    y_val=y_val,
    x_test=x_test,
    y_test=y_test,
    batch_size=2048,
)
from din_tutorial import DIN
model = DIN(
    features=features,
    history_features=history_features,
    target_features=target_features,
    mlp_params={"dims": [256, 128], "dropout": 0.2, "activation": "dice"},
    attention_mlp={"dims": [32, 16], "dropout": 0.2, "activation": "dice"},
)
import os
from din_tutorial import CTRTrainer
os.makedirs("./saved/din", exist_ok=True)
trainer = CTRTrainer(
    model,
    optimizer_params={"lr": 1e-3, "weight_decay": 1e-5},
    n_epoch=3,
    earlystop_patience=2,
    device="cpu",  # change to "cuda:0" for GPU
    model_path="./saved/din",
)
# Start training
trainer.fit(train_dl, val_dl)
auc = trainer.evaluate(trainer.model, test_dl)
print(f"DIN test AUC: {auc:.4f}")
from din_tutorial import visualize_model
# Automatically generate the graph and save it.
visualize_model(model, save_dir="./visualization", model_name="din")
# Export DIN with dynamic batch and dynamic sequence lengths.
trainer.export_onnx(
    "./saved/din/din.onnx",
    data_loader=test_dl,
    dynamic_batch=True,
)
