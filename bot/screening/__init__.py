"""What the worker asks of AWS around a render: each image checked before anyone sees it
(image_check, Amazon Rekognition), and a prompt not in English translated for the model
(translation, Amazon Translate)."""
