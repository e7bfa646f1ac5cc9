"""Reference outputs of the original musicnn graph (TensorFlow 2.21, tf_keras) for genrekit's tests.
Input: librosa.load(sr=16000), mel power with pad_mode='reflect', log10(10000x+1) in float32."""
import os, sys
os.environ["TF_USE_LEGACY_KERAS"] = "1"
import numpy as np, librosa
import tensorflow as tf
tf.compat.v1.disable_eager_execution()
from musicnn import models
import musicnn
out, clips = sys.argv[1], sys.argv[2:]
result = {}
for model in ("MSD_musicnn", "MTT_musicnn"):
    tf.compat.v1.reset_default_graph()
    with tf.name_scope('model'):
        x = tf.compat.v1.placeholder(tf.float32, [None, 187, 96])
        is_training = tf.compat.v1.placeholder(tf.bool)
        outs = models.define_model(x, is_training, model, 50)
    sess = tf.compat.v1.Session()
    tf.compat.v1.train.Saver().restore(sess, os.path.dirname(musicnn.__file__) + '/' + model + '/')
    for clip in clips:
        audio, sr = librosa.load(clip, sr=16000)
        mel = librosa.feature.melspectrogram(y=audio, sr=sr, hop_length=256, n_fft=512, n_mels=96, pad_mode="reflect").T.astype(np.float32)
        rep = np.log10(10000 * mel + 1)
        patches = np.stack([rep[i:i+187] for i in range(0, rep.shape[0]-187+1, 187)])
        logits, penultimate = sess.run([outs[0], outs[-1]], feed_dict={x: patches, is_training: False})
        name = os.path.basename(clip)
        result[f"{model}/{name}/logits"] = logits
        result[f"{model}/{name}/embedding"] = penultimate
np.savez_compressed(out, **result)
print({k: v.shape for k, v in result.items()})
