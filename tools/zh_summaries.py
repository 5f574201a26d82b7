"""Put a short Chinese summary (本节内容) under the English title of every course notebook.

    python tools/zh_summaries.py            # insert or update, in notebooks/
    python tools/zh_summaries.py --check    # exit 1 if a notebook lacks its summary or differs

The summary goes right under the title line (`# NN · Title`) of the notebook's first cell,
as a block quote that starts with `> **本节内容**`; running the script again replaces that
block, so it is safe to run after any edit. The texts live here, one per notebook number,
in the terms of docs/glossary.md (the Chinese edition of d2l, 《动手学深度学习》).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
HEADER = "> **本节内容**"

SUMMARIES: dict[str, list[str]] = {
    "00": [
        "大数据深度学习的五个应用领域：预测分析、分类和聚类、"
        "自然语言处理、图像和视频处理、推荐系统。",
        "检查运行环境（版本、CPU 线程数、GPU），了解课程的结构。",
        "用梯度下降训练第一个模型：先用 `dlbd_lib`，再用 PyTorch，两个引擎得到相同的权重。",
    ],
    "01": [
        "作为张量的 `ndarray`（一块内存加形状和步幅），`dlb"
        "d_lib.Tensor` 与 PyTorch 的数据类型规则。",
        "广播的规则；float64、float32、float16 和 int8 的内存占用。",
        "稀疏矩阵（COO、CSR）存储大规模的用户-物品矩阵；用内存映射数组分块统计超出内存的数据。",
        "在 PyTorch 中：`torch.from_numpy`（共享内存）、`torch.sparse`、把数据移到 GPU。",
    ],
    "02": [
        "感知机的学习规则：线性可分时能找到分界线，对异或（XOR）却永远不能。",
        "常用激活函数（sigmoid、tanh、ReLU）及其导数；多层感知机的前向传播与每个数组的形状。",
        "`dlbd_lib.nn` 的 `Module`、`Linear`、`Sequential` 与训练；学到的特征为什么胜过人工特征。",
        "用 PyTorch 的 `torch.nn` 搭建同一个多层感知机：相同的权重、输出和训练曲线。",
    ],
    "03": [
        "均方误差与交叉熵损失函数，以及它们的数值意味着什么。",
        "softmax函数为什么要用 log-sum-exp 技巧保证数值稳定；二元交叉熵为什么应接收 logit。",
        "手算导数，有限差分（前向与中心差分）与梯度检验；`dl"
        "bd_lib` 与 PyTorch 的损失值和梯度一致。",
    ],
    "04": [
        "反向模式自动微分：先写一个几十行的标量引擎并画出它的计算图。",
        "真正的引擎：`Tensor`、`Function` 的前向/反向模式、统一的 `unbroadcast` 与迭代式拓扑排序。",
        "对整个网络做梯度检验；梯度累积与 `zero_grad`、`no_grad` 的作用。",
        "`torch.autograd` 在相同的网络和权重上给出相同的梯度。",
    ],
    "05": [
        "梯度下降的学习率上限，病态问题中的缓慢收敛；动量法与 Nesterov 动量法。",
        "批量梯度下降、随机梯度下降与小批量随机梯度下降：梯度估计的噪声随 1/√B 减小。",
        "学习率衰减（阶梯、指数、余弦退火）、动量调度、平台期降低学习率；简要介绍 Adam。",
        "`torch.optim` 与 `lr_scheduler` 从相同的起点走出与 `dlbd_lib.optim` 完全相同的轨迹。",
    ],
    "06": [
        "训练集、验证集、测试集的划分；训练循环的每一步（前向、损失、清零梯度、反向、更新）。",
        "准确率、混淆矩阵、每类的精确率与召回率；从学习曲线看欠拟合与过拟合。",
        "权重衰减与暂退法（dropout）对训练与验证损失差距的实测效果；带耐心值的早停。",
        "用 PyTorch 从相同的权重训练同一个模型：不加暂退法时逐批次损失相同；"
        "加暂退法时测试准确率相差几张图片，与换一个随机种子相当。",
    ],
    "07": [
        "卷积的计算：先用显式循环，再用 im2col 把每个窗口展开后做一次矩阵乘法。",
        "步幅与填充下的输出尺寸；最大汇聚与平均汇聚（池化）；"
        "反向传播：col2im 是 im2col 的转置，汇聚的梯度只流向窗口中的最大值。",
        "一个 LeNet 风格的卷积神经网络识别手写数字，在验证集上胜过参数量相同的多层感知机；"
        "卷积核与特征图。",
        "与经典模型比较（逻辑回归、k 近邻、RBF 核支持向量机，超参数都在验证集上选择）；"
        "带批量规范化的残差块（加上随机平移的数据增强）让卷积网络在验证集上追平支持向量机；"
        "测试集只用一次，支持向量机仍领先几张图像。",
        "两个网络都用 PyTorch 从相同权重复现；视频部分见 07b。",
    ],
    "07b": [
        "一个必须看时间的视频任务：两张印着数字的卡片相向移动并交错，判断哪一张从前面经过；"
        "把视频倒放，标签翻转而帧的集合不变，由此证明单帧、帧袋（bag of frames）"
        "和与顺序无关的规则都只能猜。",
        "寻找捷径：没有背景中漂移的点时，整幅画面的运动方向就泄露了答案；基线（质心规则、"
        "全局运动、时空图上的逻辑回归、单帧卷积网络）都在验证集和测试集上接近 50%。",
        "把相邻帧叠成通道，用引擎的二维卷积实现三维卷积（时间卷积），"
        "并与 PyTorch 的 `conv3d` 对照；常见的“逐帧 CNN + GRU”（晚期融合）学不会，"
        "第一层就看三帧的三维卷积网络在 3 个种子上都学会了"
        "（加 GRU 的版本 3 个种子中学会 2 个）。",
        "评估规范：训练集/验证集/测试集，在验证集上选择轮数（学习率、训练预算和网络结构"
        "事先固定），每个网络都用同样的 3 个随机种子，测试集只用一次，结果汇总成表；"
        "用 PyTorch 从相同权重和相同批次复现，"
        "并实测两个引擎每秒处理的帧数。",
    ],
    "08": [
        "RNN 单元与通过时间反向传播（BPTT）；梯度消失与梯度爆炸的逐步测量，以及梯度裁剪。",
        "预测分析：用滑动窗口预测真实的时间序列（莫纳罗亚的月度 CO₂）未来一年，按时间划分数据。",
        "与朴素预测、季节性朴素预测等基线比较，报告平均绝对误差和均方根误差。",
        "PyTorch 的 `nn.LSTM` 与 `nn.GRU` 从相同权重出发得到相同的训练损失；LSTM 为什么记得更久。",
        "大数据为什么需要深度预测：1000 个商品的月度销量共享季节形状和非线性的促销响应，"
        "一个全局 GRU 胜过逐序列的 Holt-Winters 与线性自回归，也以约 5% 的优势胜过"
        "按折扣深度与距上次促销月数分箱的全局线性模型（后者在促销月份反而最好）；"
        "测量误差如何随训练序列的数量下降。",
    ],
    "09": [
        "自然语言处理：用正则表达式做词元化，带 `<unk>` 的词表，齐普夫定律。",
        "词袋模型与 TF-IDF 存为稀疏矩阵（CSR），与 scikit-learn 对照；用 TF-IDF 做关键词提取。",
        "用 CBOW 学习词嵌入（按连续文本块留出数据，词表只从训练部分统计）；字符级 LSTM 语言模型、"
        "截断的通过时间反向传播与温度采样，并用 PyTorch 复现。",
        "与 Kneser–Ney n 元语法基线比较：长时间训练（开关）在验证集上从两种 LSTM（大小、dropout）"
        "中选择并选定 n 元阶数（学习率、调度与更新次数事先固定），选中的 LSTM 在测试文本上"
        "超过最好的 n 元模型。",
        "中文：用 jieba 分词并与按字切分比较，在分好的词上用 TF-IDF 提取关键词（以 jieba 为参照），"
        "在唐诗语料上训练字符级语言模型：其测试损失比一元语法模型每字低 0.75 nat，"
        "但只比在验证集上选定阶数的 Kneser–Ney 5 元模型低约 0.03 nat，几乎没有胜过计数。",
    ],
    "09b": [
        "注意力机制：缩放点积注意力、因果掩码、多头注意力与位置编码。",
        "从零搭建 Transformer 块，训练一个小型语言模型，并与 n 元语法模型和 LSTM 比较。",
        "实测注意力随序列长度 L 的 O(L²) 开销；用 `nn.MultiheadAttention` 与 "
        "`TransformerEncoderLayer` 从相同的权重复现。",
    ],
    "10": [
        "用奇异值分解做主成分分析（PCA）：最好的线性压缩及其重构误差。",
        "自编码器（编码器 → 编码 → 解码器）与 PCA 在相同编码长度下的比较；"
        "线性自编码器学到的就是 PCA 子空间。",
        "在编码上做 k 均值聚类，用调整兰德指数评估；去噪自编码器；"
        "用重构误差做异常检测（ROC 曲线与 AUC）。",
        "用 PyTorch 复现同样的自编码器：逐批次相同的损失，相同的质量。",
    ],
    "11": [
        "生成对抗网络的两个参与者：从噪声生成数据的生成器，输出 logit 的判别器。",
        "用 `binary_cross_entropy_with_logits` 写出 GAN 的损失（"
        "含非饱和的生成器损失），`.detach()` 的位置。",
        "在二维混合分布上度量生成器：覆盖的模式数与高质量样本的比例；模式崩溃及一种补救方法。",
        "用 PyTorch 从相同的权重和噪声复现，并训练一个生成 8×8 手写数字的 GAN。",
    ],
    "12": [
        "推荐系统：用稀疏矩阵（CSR）存储用户-物品评分矩阵。",
        "矩阵分解（用户与物品的嵌入加偏置）用小批量随机梯度下降和 L2 惩罚训练。",
        "评估：留出评分上的 RMSE 与基线比较，前 k 推荐的召回率（"
        "recall@k），不用按用户的 Python 循环。",
        "用 PyTorch 复现同一个模型，并训练神经协同过滤模型（嵌入 → 多层感知机）。",
    ],
    "13": [
        "分块写入数百万行的内存映射文件，并以远低于文件大小的峰值内存流式读取小批量；"
        "与内存中的基线（pandas + scikit-learn）比较，并由实测的每行字节数算出它在多大数据量时"
        "装不进内存。",
        "DataLoader 的工作进程何时有用，吞吐量如何随批量大小变化；CPU 与 GPU，混合精度。",
        "用 `torch.distributed` 做数据并行训练（2 个进程，gloo），结果与单进程相同。",
        "在分区的 Parquet 上用 Dask 搭建核外计算流水线，同一段代码可以运行在集群上。",
    ],
    "14": [
        "自己测量矩阵乘法的吞吐量（GFLOP/s），与 GPU、TPU 公布的峰值比较；算术强度与屋顶线模型。",
        "把训练好的 PyTorch 模型带出 Python：TorchScript，以及读取导出权重的 C 程序。",
        "PyTorch、TensorFlow/Keras、JAX 与 `dlbd_lib` 的比较；量化、剪枝、分布式训练等未来方向。",
    ],
}

_NUMBER = re.compile(r"^(\d\d[a-z]?)_")


def number(path: Path) -> str:
    """The notebook number of a course notebook's file name ("09", "09b")."""
    m = _NUMBER.match(path.name)
    if not m:
        raise ValueError(f"{path.name} is not named NN_topic.ipynb")
    return m.group(1)


def block(num: str) -> str:
    """The Markdown block quote of notebook num's summary."""
    if num not in SUMMARIES:
        raise KeyError(f"tools/zh_summaries.py has no Chinese summary for notebook {num}")
    return "\n".join([HEADER] + [f"> - {line}" for line in SUMMARIES[num]])


def with_summary(source: str, num: str) -> str:
    """The first cell's source with the summary right under its title line (replacing one)."""
    lines = source.split("\n")
    if not lines or not lines[0].startswith("# "):
        raise ValueError(f"notebook {num}'s first cell does not start with a '# ' title line")
    rest = lines[1:]
    while rest and not rest[0].strip():
        rest = rest[1:]
    if rest and rest[0].startswith(HEADER):            # an earlier summary: drop it
        while rest and rest[0].startswith(">"):
            rest = rest[1:]
        while rest and not rest[0].strip():
            rest = rest[1:]
    return "\n".join([lines[0], "", block(num)] + ([""] + rest if rest else []))


def apply(path: Path, check: bool = False) -> bool:
    """Insert or update one notebook's summary; True if it was (or, with check, is) different."""
    nb = nbformat.read(path, as_version=4)
    cell = nb.cells[0]
    new = with_summary(cell.source, number(path))
    if new == cell.source:
        return False
    if not check:
        cell.source = new
        nbformat.write(nb, path)
    return True


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [Path(a) for a in argv if not a.startswith("--")] or \
        sorted((ROOT / "notebooks").glob("*.ipynb"))
    changed = [p for p in paths if apply(p, check)]
    for p in changed:
        print(("differs: " if check else "updated: ") + str(p))
    if check and changed:
        print("run: python tools/zh_summaries.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
