"""Model families the toolchain builds: the ECG CNN (ecg_cnn.py) and the compact imaging students
(imaging_students.py).
"""
