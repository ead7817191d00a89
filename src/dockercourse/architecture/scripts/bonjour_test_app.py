import unittest

from app import app


class TestApp(unittest.TestCase):
    def test_bonjour(self):
        reponse = app.test_client().get("/")
        self.assertEqual(reponse.status_code, 200)
        self.assertIn("Bonjour", reponse.get_data(as_text=True))


if __name__ == "__main__":
    unittest.main()
