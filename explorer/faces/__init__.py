"""Faces in photos: find them (MTCNN landmarks, ``detect``), frame them like CelebA's aligned images (a
similarity onto CelebA's mean landmarks, then the framing network, ``framing``), and the example photos that
ship with the project (``photos``). No Streamlit.

    from explorer.faces import find_faces, align, align_face
"""
from explorer.faces.detect import ALIGNED_SIZE, Face, FaceDetectorError, align, align_face, find_faces

__all__ = ["ALIGNED_SIZE", "Face", "FaceDetectorError", "align", "align_face", "find_faces"]
