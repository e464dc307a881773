// LeukData: Image decoding (stb, libtiff), preprocessing, dataset layouts, splits, augmentation and synthetic cells.
