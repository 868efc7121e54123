import pytest
from PIL import Image

from core.captioning import caption_image
from core.errors import ModelUnavailableError


def test_missing_captioner_offline_says_how_to_get_it_and_offers_typing():
    with pytest.raises(ModelUnavailableError) as error:
        caption_image(Image.new("RGB", (32, 32)))
    message = str(error.value)
    assert "Salesforce/blip-image-captioning-large" in message
    assert "type a short description" in message


def test_non_captioner_model_is_refused():
    with pytest.raises(ModelUnavailableError, match="not an image captioner"):
        caption_image(Image.new("RGB", (32, 32)), model="tiny-sd")
